"""Interest-evolution trails on a real redis-server: a planted drifting user's trail
records the shift at the switch, its categories move, ``forget`` deletes it, and
``interests user ID --plot`` draws it. (The worker process writing trails end to
end is in tests/streams/dashboard/test_dashboard_browser.py.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import redis

from models.batch_fold import ShiftAt
from models.interest_shift import Shift
from state import StoredUser
from state.codec import encode_vector
from state.connection import outage_client
from state.keys import KeyLayout
from state.store import UserStateStore
from state.trails import TrailPoint, TrailWriter, read_trail
from streams.cli.main import main
from streams.dashboard.trail import category_lookup, trail_series
from streams.devtools.embedded import EmbeddedServices
from streams.devtools.synthetic import item_id
from streams.read_side import open_reader
from streams.settings import Settings
from streams.worker.events import Event
from streams.worker.interest_updater import Incoming, InterestUpdater
from streams.worker.trails import TrailRecorder
from tests.support.harness import isolated_settings

T0 = 1_700_000_000.0
SWITCH = 60  # the planted user's events 0..59 are in category 1, 60.. in category 5
VERSION = "v000001"


def _vectors(dim: int) -> dict[str, np.ndarray]:
    """Eight well-separated categories of 40 items each (one axis per category)."""
    rng = np.random.default_rng(0)
    out = {}
    for c in range(8):
        for r in range(40):
            v = rng.normal(0, 0.05, dim).astype(np.float32)
            v[c] += 1.0
            out[item_id(c, r)] = v
    return out


def _plant_model(settings: Settings, user: str) -> None:
    """A published model whose long-term vector for the user is category 1."""
    keys = KeyLayout(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_url)
    vectors = _vectors(settings.vector_size)
    client.hset(keys.items(VERSION), mapping={k: encode_vector(v) for k, v in vectors.items()})
    long_term = np.zeros(settings.vector_size, np.float32)
    long_term[1] = 1.0
    client.hset(
        keys.user(user),
        mapping={"long_term": encode_vector(long_term), "long_term_version": VERSION},
    )
    client.set(keys.model_version(), VERSION)
    client.close()


def _event(user: str, n: int) -> Incoming:
    category = 1 if n < SWITCH else 5
    event = Event(user, item_id(category, n % 10), "view", T0 + n, f"{user}-{n}")  # recs: the rest
    return Incoming("interactions", 0, n, event.to_json(), user.encode())


def _run_planted(settings: Settings, user: str) -> InterestUpdater:
    async def go() -> InterestUpdater:
        store = UserStateStore(
            outage_client(settings, settings.redis_timeout_s),
            KeyLayout(settings.redis_prefix),
            settings.vector_size,
            settings.user_ttl_s,
            settings.history_length,
        )
        updater = InterestUpdater(settings, store)
        await updater.start()
        for start in range(0, 100, 5):  # batches of 5 events, as a worker would see them
            await updater.apply([_event(user, n) for n in range(start, start + 5)])
        assert updater.trails is not None
        await updater.trails.drain()
        await store.aclose()
        return updater

    return asyncio.run(go())


@pytest.fixture
def planted(services: EmbeddedServices) -> Settings:
    settings = isolated_settings(
        services,
        vector_size=16,
        trail_every_events=10,
        trail_period_s=3600.0,
        short_term_half_life_s=10.0,
        learning_rate=0.01,
    )
    _plant_model(settings, "drifter")
    updater = _run_planted(settings, "drifter")
    assert updater.model_version == VERSION and updater.trails is not None
    assert updater.trails.dropped == 0
    return settings


def test_a_drifting_users_trail_marks_the_shift_at_the_switch(planted: Settings) -> None:
    reader = open_reader(planted)
    try:
        points = read_trail(reader.client, reader.keys, "drifter")
    finally:
        reader.close()
    # One point when new (after 5 events), one per 10 events, one at the shift (65).
    assert [p["events"] for p in points] == [5, 10, 20, 30, 40, 50, 60, 65, 70, 80, 90, 100]
    assert all(
        {"ts", "mix_weight", "similarity", "top", "chosen", "version"} <= set(p) for p in points
    )
    shifts = [p["shift"] for p in points if "shift" in p]
    assert len(shifts) == 1, points
    assert T0 + SWITCH <= shifts[0]["ts"] <= T0 + SWITCH + 5  # detected within its batch
    assert shifts[0]["to"].startswith("c5-") and shifts[0]["strength"] > 0.1
    series = trail_series(points, category_lookup({}, r"^(c\d+)-"))
    assert series.shifts[0].ts == shifts[0]["ts"]
    dominant = series.dominant()
    assert dominant[1] == "c1" and dominant[-1] == "c5"
    # Short-term follows the new category: its similarity to long-term (category 1) drops.
    before = [s for t, s in zip(series.ts, series.similarity, strict=True) if t < T0 + SWITCH]
    after = series.similarity[-1]
    assert before and after is not None and all(s is not None and s > after + 0.3 for s in before)


def test_the_trail_is_bounded_and_forgotten(planted: Settings) -> None:
    client = redis.Redis.from_url(planted.redis_url)
    keys = KeyLayout(planted.redis_prefix)
    assert 0 < client.ttl(keys.trail("drifter")) <= planted.user_ttl_s

    async def append_three_to_a_list_of_four() -> int:
        writer = TrailWriter(outage_client(planted, 5.0), keys, length=4, ttl_s=60)
        points = [TrailPoint("drifter", 100, b'{"n": %d}' % n) for n in range(3)]
        points.append(TrailPoint("drifter", 101, b'{"n": "ahead of the user"}'))
        written = await writer.append(points)
        await writer.client.aclose()
        return written

    assert asyncio.run(append_three_to_a_list_of_four()) == 3
    kept = client.lrange(keys.trail("drifter"), 0, -1)
    assert len(kept) == 4 and kept[-3:] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert main(["forget", "drifter"], planted) == 0
    assert client.exists(keys.trail("drifter")) == 0
    # A point of a batch in flight when forget ran does not bring the trail back.
    assert asyncio.run(append_three_to_a_list_of_four()) == 0
    assert client.exists(keys.trail("drifter")) == 0
    client.close()


def test_user_plot_draws_the_trail(
    planted: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "drifter.png"
    code = main(["user", "drifter", "--plot", str(out), "--category-pattern", r"^(c\d+)-"], planted)
    assert code == 0
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"\x89PNG"
    assert "12 trail points, 1 shifts" in capsys.readouterr().out
    assert main(["user", "nobody", "--plot", str(out)], planted) != 0


def test_points_are_due_per_n_events_per_period_and_at_shifts() -> None:
    settings = Settings(trail_every_events=10, trail_period_s=60.0)
    recorder = TrailRecorder(settings, writer=None)  # type: ignore[arg-type]

    def due(before: int, n: int, last_ts: float | None, ts: float, shift: bool = False) -> bool:
        user = StoredUser("u", events_applied=before, last_event_ts=last_ts)
        events = [Event("u", "i", "view", ts)] * n
        at = [ShiftAt(0, Shift(0.5, 0.9, 3), ())] if shift else []
        return recorder.due(user, events, at)

    assert due(0, 1, None, T0)  # a new user
    assert not due(11, 3, T0, T0 + 5)
    assert due(18, 3, T0, T0 + 5)  # crosses 20
    assert due(11, 1, T0, T0 + 60 - T0 % 60)  # a new minute of event time
    assert due(11, 1, T0, T0 + 1, shift=True)
