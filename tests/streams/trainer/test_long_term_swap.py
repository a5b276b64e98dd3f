"""The trainer publishes a version; a running worker swaps to it mid-stream."""

from __future__ import annotations

import contextlib
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import redis

from models.blend import cosine
from models.gru_step import GRUStepper
from state.codec import decode_vector
from state.keys import Field, KeyLayout
from state.model_registry import ModelRegistry
from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.devtools.synthetic import category_of, item_id
from streams.read_side import open_reader
from streams.settings import Settings
from streams.trainer.service import Trainer, TrainerError
from streams.worker.events import Event
from tests.support.harness import (
    decode_json,
    events_applied,
    isolated_settings,
    produce,
    read_topic,
    wait_until,
)
from tests.support.mixed_stream import mixed_stream

pytestmark = pytest.mark.slow


def _settings(services: EmbeddedServices, tmp_path: Path, blend: str = "vector") -> Settings:
    return isolated_settings(
        services,
        blend=blend,
        vector_size=16,
        # The new item is placed near its category's 50 items, at their median length:
        # among the fan's top 60 it is whenever it outranks the other categories' items.
        top_k=60,
        trainer_epochs=4,
        trainer_max_len=20,
        model_dir=str(tmp_path / "models"),
        model_poll_s=0.2,
    )


def _shuffle_targets(sequences: dict[str, list[str]]) -> dict[str, list[str]]:
    """A broken candidate: every item replaced by a random one from the catalogue."""
    rng = random.Random(0)
    catalogue = sorted({i for s in sequences.values() for i in s})
    return {user: [rng.choice(catalogue) for _ in s] for user, s in sequences.items()}


def _planted(
    category: int, count: int, start: int, user: str = "planted"
) -> list[tuple[bytes, bytes]]:
    """Events of one user, all in one synthetic category."""
    return [
        (
            user.encode(),
            Event(
                user,
                # The planted user keeps to 5 items: a steady reference with little noise,
                # so the detector fires within a few events of the switch, before the
                # per-event GRU step has followed the user into the new category.
                item_id(category, (n * 7) % 50 if user == "fan" else n % 5),
                "view",
                1_700_000_000.0 + start + n,
                f"{user}-{start + n}",
            ).to_json(),
        )
        for n in range(count)
    ]


def _catalog_entry(item: str, category: int) -> tuple[bytes, bytes]:
    body = {"item_id": item, "category": f"cat-{category}", "title": f"{item} in {category}"}
    return item.encode(), orjson.dumps(body)


def _produce_catalog(settings: Settings, entries: list[tuple[bytes, bytes]]) -> None:
    produce(settings.replace(topic_interactions=settings.topic_items), entries)


@pytest.mark.parametrize("blend", ["vector", "fusion"])
def test_publish_swap_reject_and_refuse(
    services: EmbeddedServices, tmp_path: Path, blend: str
) -> None:
    settings = _settings(services, tmp_path, blend)
    first = mixed_stream(valid=3000, users=40, malformed_every=10_000, seed=5)
    first.messages += _planted(1, 80, start=0)  # type: ignore[arg-type]
    first.valid_per_user["planted"] += 80
    first.messages += _planted(2, 80, start=0, user="fan")  # type: ignore[arg-type]
    first.valid_per_user["fan"] += 80
    _produce_catalog(
        settings, [_catalog_entry(item_id(c, r), c) for c in range(8) for r in range(50)]
    )
    produce(settings, first.messages)  # type: ignore[arg-type]
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        users = sorted(first.valid_per_user)
        wait_until(
            lambda: events_applied(settings, users) == dict(first.valid_per_user),
            timeout=90,
            what="the first part to be applied",
        )

        trainer = Trainer(settings)
        outcome = trainer.refresh_once()
        assert outcome.result is not None and outcome.result.baseline == "popularity"
        assert outcome.published == "gru-1", outcome.result
        published = _long_term(settings, "planted")
        # Shifts are measured against the long-term vector of the version in use:
        # the switch below must reach a worker that has swapped (it polls between
        # batches; on a loaded machine one batch can hold the whole second part).
        wait_until(
            lambda: "swapped model online -> gru-1" in (tmp_path / "worker.log").read_text(),
            timeout=60,
            what="the worker to swap to gru-1",
        )

        registry = ModelRegistry.from_url(settings.redis_url, settings.redis_prefix, 60)
        items_key = f"{settings.redis_prefix}items:gru-1"
        target = _farthest_category(registry.client.hgetall(items_key), published, {1, 2})
        second = mixed_stream(valid=1000, users=40, malformed_every=10_000, seed=6)
        # The planted user keeps to category 1 for a while, then switches to the
        # category the version placed farthest from them (the mixed users' drift
        # makes some categories neighbours, and a switch to one of those may stay
        # under the detector's threshold). The detector learns its reference for
        # 20 events after the swap (the first with a long-term vector), so the
        # user stays long enough to give it a steady one.
        second.messages += _planted(1, 60, start=100) + _planted(target, 80, start=160)  # type: ignore[arg-type]
        second.valid_per_user["planted"] += 140
        produce(settings, second.messages)  # type: ignore[arg-type]
        expected = first.valid_per_user + second.valid_per_user
        wait_until(
            lambda: events_applied(settings, sorted(expected)) == dict(expected),
            timeout=90,
            what="exact counts across the swap",
        )
        # A new item, described on the items topic, reaches a fan of its category
        # before anyone has interacted with it.
        _produce_catalog(settings, [_catalog_entry("c2-new", 2)])
        wait_until(
            lambda: bool(registry.client.hexists(items_key, "c2-new")),
            timeout=30,
            what="the new item's vector",
        )
        produce(settings, _planted(2, 1, start=500, user="fan"))
        expected["fan"] += 1
        wait_until(
            lambda: events_applied(settings, ["fan"])["fan"] == expected["fan"],
            timeout=30,
            what="the fan's event",
        )
        # One recommendation per user per batch: wait for the fan's latest one.
        recs: list[tuple[bytes | None, bytes | None]] = []

        def fan_recommended() -> bool:
            recs[:] = read_topic(settings, settings.topic_recommendations, expect=1, timeout=5)
            return any(k == b"fan" and decode_json(v)["events"] and "c2-new" in str(v)
                       for k, v in recs)  # fmt: skip

        wait_until(fan_recommended, timeout=60, what="the fan's recommendation with c2-new")
        shifts: list[Any] = []

        def planted_shifted() -> bool:
            topic = settings.topic_interest_shifts
            shifts[:] = [decode_json(v) for _, v in read_topic(settings, topic, 1, timeout=5)]
            return any(s["user_id"] == "planted" for s in shifts)

        with contextlib.suppress(AssertionError):  # the assertion below names what was seen
            wait_until(planted_shifted, timeout=60, what="a shift of the planted user")
    finally:
        worker.stop()

    planted = [s for s in shifts if s["user_id"] == "planted"]
    assert planted, f"no shift for the planted user; {len(shifts)} shifts seen: {shifts}"
    assert {"ts", "from", "to", "strength"} <= set(planted[0])
    assert float(planted[0]["ts"]) >= 1_700_000_160.0  # not before the switch
    assert str(planted[0]["to"]).startswith(f"c{target}-")
    # ``from`` names one of the user's recent items (the one closest to the
    # long-term vector among those before the drop). When detection fires some
    # events into the new category, that can already be a c5 item: known, see
    # the closing note; what is asserted is that it is one of the user's items.
    assert str(planted[0]["from"]).startswith(("c1-", f"c{target}-"))

    fan = [decode_json(v) for k, v in recs if k == b"fan"][-1]
    assert "c2-new" in [i["item_id"] for i in fan["items"]]  # type: ignore[attr-defined]
    # With a long-term vector, part of the items' scores comes from it.
    assert any(share > 0 for share in fan["why"]["long"])  # type: ignore[index]

    versions = [decode_json(v)["model_version"] for _, v in recs]
    assert set(versions) == {"online", "gru-1"}
    assert versions[-1] == "gru-1"
    log = (tmp_path / "worker.log").read_text()
    assert "swapped model online -> gru-1" in log and "long-term stepped per event" in log

    # The worker stepped the planted user's long-term vector through the switch:
    # it moved off the trainer's, towards the new category and away from category 1.
    stepped = _long_term(settings, "planted")
    assert not np.allclose(stepped, published)
    centre = _category_centres(registry.client.hgetall(items_key))
    assert cosine(stepped, centre[target]) > cosine(stepped, centre[1])
    assert cosine(published, centre[1]) > cosine(published, centre[target])

    reader = open_reader(settings)
    try:
        state = reader.get_user(users[0])
    finally:
        reader.close()
    assert state is not None and state.model_version == "gru-1"
    assert state.long_term is not None and state.long_term.shape == (16,)
    assert 0.0 < state.mix_weight < 1.0

    # A candidate trained on shuffled sequences must not replace gru-1.
    # (A large step, so that even its best epoch is off: early stopping otherwise
    # keeps an epoch barely moved from the warm start, which ties gru-1.)
    careless = settings.replace(trainer_learning_rate=0.5)
    broken = Trainer(careless, train_transform=_shuffle_targets).refresh_once()
    assert broken.published is None and broken.result is not None
    assert broken.result.baseline == "current"
    assert registry.current_version() == "gru-1"
    assert sorted(p.name for p in Path(settings.model_dir).iterdir()) == ["gru-1.pt"]

    # A tampered weights file is refused, loudly, and gru-1 stays.
    weights = Path(settings.model_dir) / "gru-1.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(TrainerError, match="checksum"):
        Trainer(settings).refresh_once()
    env = {**settings.as_env(), "PATH": "/usr/bin:/bin"}
    cli = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "trainer", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 2
    assert cli.stderr.count("\n") == 1 and "checksum" in cli.stderr
    assert registry.current_version() == "gru-1"
    announced = read_topic(settings, settings.topic_model_updates, expect=1, timeout=10)
    assert [orjson.loads(v or b"{}")["version"] for _, v in announced] == ["gru-1"]
    registry.close()


def _category_centres(vectors: dict[Any, Any]) -> dict[int, np.ndarray]:
    """The mean vector of each synthetic category's items (``item_id(category, rank)``)."""
    by_category: dict[int, list[np.ndarray]] = {}
    for key, raw in vectors.items():
        name = key.decode()
        if re.fullmatch(r"c\d+-i\d+", name):  # the catalogue's, not c2-new nor others
            by_category.setdefault(category_of(name), []).append(decode_vector(raw))
    return {c: np.mean(rows, axis=0) for c, rows in by_category.items()}


def _farthest_category(vectors: dict[Any, Any], long_term: np.ndarray, exclude: set[int]) -> int:
    """The category whose items' centre is least similar to ``long_term``."""
    centres = _category_centres(vectors)
    candidates = sorted(set(centres) - exclude)
    return min(candidates, key=lambda c: cosine(long_term, centres[c]))


def _long_term(settings: Settings, user_id: str) -> np.ndarray:
    """The user's long-term vector now: the published GRU step read out of their state."""
    keys = KeyLayout(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw, version = client.hmget(
            keys.user(user_id), [Field.LONG_TERM_STATE, Field.LONG_TERM_STATE_VERSION]
        )
        assert raw and version == b"gru-1", (user_id, version)
        stepper = GRUStepper.from_bytes(client.get(keys.gru_step("gru-1")))  # type: ignore[arg-type]
    finally:
        client.close()
    state = decode_vector(raw).reshape(stepper.layers, stepper.hidden)
    return stepper.output(state)
