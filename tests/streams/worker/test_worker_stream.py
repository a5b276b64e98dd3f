"""End to end: a real broker, a real redis-server, a real worker process."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.worker.dead_letter import DeadLetter
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


def test_mixed_stream_exact_counts_dlq_and_recommendations(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(services, max_event_bytes=4096)
    stream = mixed_stream(valid=1500, users=40, malformed_every=25, seed=3, oversize=2)
    produce(settings, stream.messages)  # type: ignore[arg-type]
    worker = start_worker(settings, tmp_path / "worker.log")
    users = sorted(stream.valid_per_user)
    try:
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=90,
            what="every valid event to be applied",
        )
        dead = read_topic(settings, settings.topic_dlq, expect=len(stream.malformed))
        valid = sum(stream.valid_per_user.values())
        recs = read_topic(settings, settings.topic_recommendations, expect=len(users))
    finally:
        worker.stop()

    assert len(dead) == len(stream.malformed)
    records = [decode_json(value) for _, value in dead]
    expected = Counter(raw or b"" for raw, _ in stream.malformed)
    assert Counter(DeadLetter.original_bytes(r) for r in records) == expected
    for record in records:
        assert record["reason"]
        assert record["topic"] == settings.topic_interactions
        assert isinstance(record["partition"], int) and isinstance(record["offset"], int)
    reasons = {DeadLetter.original_bytes(r): str(r["reason"]) for r in records}
    for raw, hint in stream.malformed:
        assert hint in reasons[raw or b""], (raw, reasons[raw or b""])

    # One recommendation per user per batch, covering every applied event once; each
    # user's latest names their last event.
    values = [decode_json(v) for _, v in recs]
    # At-least-once: a replay re-emits a stored recommendation unchanged, so count each once.
    distinct = {(v["user_id"], v["event_id"]): v for v in values}.values()
    assert sum(int(v["events"]) for v in distinct) == valid  # type: ignore[call-overload]
    assert {v["event_id"] for v in values} <= stream.valid_event_ids
    last_event: dict[str, object] = {}
    for key, raw in stream.messages:
        if raw is not None and key.decode() in stream.valid_per_user:
            try:
                body = decode_json(raw)
            except Exception:
                continue
            if body.get("event_id") in stream.valid_event_ids:
                last_event[str(body["user_id"])] = body["event_id"]
    by_user = {key.decode(): decode_json(value) for key, value in recs if key}
    assert set(by_user) == set(users)
    for user_id, rec in by_user.items():
        assert rec["user_id"] == user_id
        assert rec["event_id"] == last_event[user_id]
        assert rec["model_version"] == "online"
        items = rec["items"]
        assert isinstance(items, list) and len(items) == settings.top_k
        scores = [i["score"] for i in items]
        assert scores == sorted(scores, reverse=True)
        assert {"event_id", "event_ts", "events", "emitted_ts"} <= set(rec)


def test_kill9_mid_stream_loses_nothing_and_applies_nothing_twice(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(services, batch_size=50)
    first = mixed_stream(valid=3000, users=60, malformed_every=50, seed=11)
    produce(settings, first.messages)  # type: ignore[arg-type]
    users = sorted(first.valid_per_user)
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        wait_until(
            lambda: 0 < sum(events_applied(settings, users).values()) < 2500,
            timeout=90,
            what="the worker to be mid-stream",
            interval=0.05,
        )
    finally:
        worker.kill()
    applied_at_kill = sum(events_applied(settings, users).values())
    assert applied_at_kill < 3000

    second = mixed_stream(valid=1000, users=60, malformed_every=50, seed=12)
    produce(settings, second.messages)  # type: ignore[arg-type]
    expected = first.valid_per_user + second.valid_per_user
    everyone = sorted(expected)
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        wait_until(
            lambda: events_applied(settings, everyone) == dict(expected),
            timeout=120,
            what="exact counts after the restart",
        )
        dead = read_topic(
            settings, settings.topic_dlq, expect=len(first.malformed) + len(second.malformed)
        )
    finally:
        worker.stop()
    # The restarted worker saw the uncommitted tail again and skipped it by offset.
    log = (tmp_path / "worker-2.log").read_text()
    skipped = [int(x) for x in re.findall(r"skipped_replays=(\d+)", log)]
    assert skipped and skipped[-1] > 0, "the kill left no replay to skip; test proved nothing"
    # Dead letters are at-least-once: a replay may repeat some, never lose one.
    positions = {(decode_json(v)["partition"], decode_json(v)["offset"]) for _, v in dead}
    assert len(positions) == len(first.malformed) + len(second.malformed)
