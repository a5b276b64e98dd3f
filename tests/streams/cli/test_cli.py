"""The read side as users meet it: `interests user`, `interests forget`, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.settings import Settings
from tests.support.harness import (
    events_applied,
    isolated_settings,
    produce,
    read_topic,
    wait_until,
)
from tests.support.mixed_stream import mixed_stream
from tests.support.paths import DATA_DIR

pytestmark = pytest.mark.slow


def interests(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**settings.as_env(), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_json_trending_and_forget(services: EmbeddedServices, tmp_path: Path) -> None:
    settings = isolated_settings(services, trending_publish_s=0.1)
    stream = mixed_stream(valid=400, users=10, malformed_every=10_000, seed=2)
    produce(settings, stream.messages)  # type: ignore[arg-type]
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: (
                events_applied(settings, sorted(stream.valid_per_user))
                == dict(stream.valid_per_user)
            ),
            timeout=90,
            what="the stream",
        )
    finally:
        worker.stop()

    shown = interests(settings, "user", "u3", "--json")
    assert shown.returncode == 0, shown.stderr
    body = orjson.loads(shown.stdout)
    assert body["user_id"] == "u3" and body["events_applied"] == stream.valid_per_user["u3"]
    assert len(body["recommendations"]) == settings.top_k
    assert len(body["short_term"]) == settings.vector_size
    assert {"last_event_ts", "model_version", "mix_weight", "long_term"} <= set(body)
    assert not set(body["recommendations"]) & set(body["recent_items"])
    # Each item says why: all short-term before any trainer ran, like a recent item.
    assert len(body["why"]) == settings.top_k
    assert all(w["long"] == 0.0 and w["short"] == 1.0 for w in body["why"])
    assert all(w["near"] in body["recent_items"] for w in body["why"])
    text = interests(settings, "user", "u3").stdout
    assert f"long 0% short 100%, like {body['why'][0]['near']}" in text

    newcomer = orjson.loads(interests(settings, "user", "never-seen", "--json").stdout)
    assert newcomer["source"] == "trending" and len(newcomer["recommendations"]) > 0

    forgot = interests(settings, "forget", "u3")
    assert forgot.returncode == 0, forgot.stderr
    assert orjson.loads(interests(settings, "user", "u3", "--json").stdout)["events_applied"] == 0
    tombstones = [
        k
        for k, v in read_topic(settings, settings.topic_recommendations, expect=401, timeout=10)
        if v is None
    ]
    assert tombstones == [b"u3"]


def test_bad_arguments_get_one_line(services: EmbeddedServices) -> None:
    settings = isolated_settings(services)
    for args in (
        ["produce", "--rate", "-5"],
        ["replay", "/no/such/file"],
        ["bench", "--events", "zero"],
    ):
        result = interests(settings, *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    broken = interests(settings.replace(redis_url="redis://127.0.0.1:1/0"), "user", "u1")
    assert broken.returncode == 1 and broken.stderr.count("\n") == 1


DATA = DATA_DIR


@pytest.mark.parametrize("name", ["ml-100k.inter", "amazon-toys.txt", "amazon-video-games.txt"])
def test_replay_streams_a_data_file_in_order(services: EmbeddedServices, name: str) -> None:
    settings = isolated_settings(services)
    result = interests(settings, "replay", str(DATA / name), "--limit", "300")
    assert result.returncode == 0, result.stderr
    assert "replayed 300 events" in result.stdout
    events = [
        orjson.loads(v or b"{}")
        for _, v in read_topic(settings, settings.topic_interactions, expect=300, timeout=20)
    ]
    assert len(events) == 300
    by_user: dict[str, list[float]] = {}
    for event in events:
        by_user.setdefault(event["user_id"], []).append(event["ts"])
    # Each partition keeps order, and a user's events share one: per-user time order.
    assert all(ts == sorted(ts) for ts in by_user.values())
