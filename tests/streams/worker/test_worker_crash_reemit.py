"""A crash after a batch's Redis write and before its produce loses no recommendation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.read_side import open_reader
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


def _stored_recommendations(settings: Any, users: list[str]) -> dict[str, list[str]]:
    reader = open_reader(settings)
    try:
        stored = {}
        for user_id in users:
            state = reader.get_user(user_id)
            if state is not None and state.recommendations:
                stored[user_id] = [str(r["item_id"]) for r in state.recommendations]
        return stored
    finally:
        reader.close()


def test_kill_between_write_and_produce_reemits_the_stored_recommendation(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    # The first worker writes its first batch, then holds the outputs (test-only
    # setting) and is killed -9 in that window: Redis has the states and
    # recommendations, the topic has nothing, the events are not acked.
    settings = isolated_settings(services, batch_size=1000, batch_within_s=2.0)
    stream = mixed_stream(valid=300, users=12, malformed_every=10_000, seed=21)
    produce(settings, stream.messages)  # type: ignore[arg-type]
    users = sorted(stream.valid_per_user)
    held = settings.replace(hold_outputs_s=600.0)
    worker = start_worker(held, tmp_path / "held.log")
    try:
        wait_until(
            lambda: sum(events_applied(settings, users).values()) > 0,
            timeout=90,
            what="the first batch to be written",
            interval=0.1,
        )
        time.sleep(1.0)  # the write script is one round trip; let every user land
        written = events_applied(settings, users)
        stored = _stored_recommendations(settings, users)
    finally:
        worker.kill()
    assert read_topic(settings, settings.topic_recommendations, expect=0, timeout=2) == []
    done = sorted(u for u in users if written[u] == stream.valid_per_user[u])
    assert done, "no user was written whole by the held batch"
    assert set(done) <= set(stored)

    restarted = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=90,
            what="exact counts after the restart",
        )
        recs = read_topic(settings, settings.topic_recommendations, expect=len(done))
    finally:
        restarted.stop()

    emitted: dict[str, list[list[str]]] = {}
    for key, value in recs:
        record = decode_json(value)
        assert key == str(record["user_id"]).encode()
        items = record["items"]
        assert isinstance(items, list)
        emitted.setdefault(str(record["user_id"]), []).append([str(i["item_id"]) for i in items])
    for user_id in done:
        # Their events were all applied before the kill: the replay skips them, and
        # only the stored recommendation, re-emitted, can reach the topic.
        assert emitted.get(user_id) == [stored[user_id]], user_id
    assert events_applied(settings, users) == dict(stream.valid_per_user)
