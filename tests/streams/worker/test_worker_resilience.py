"""Nothing stalls or kills the worker: huge messages, a full Redis, SIGTERM mid-outage."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import orjson
import pytest
import redis

from streams.devtools.embedded import EmbeddedServices, free_port, start_redis, start_worker
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


def test_an_oversized_event_and_its_dead_letter_do_not_stall_the_stream(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(services)
    huge = orjson.dumps(
        {"user_id": "u0", "item_id": "x", "type": "view", "ts": 1, "pad": "y" * 900_000}
    )
    # Its dead letter with the raw bytes in base64 would be 1.2 MB, over the
    # producer's 1 MB request limit: it must be capped, not raise.
    stream = mixed_stream(valid=1000, users=30, malformed_every=10_000, seed=5)
    produce(settings, [(b"u0", huge)])
    produce(settings, stream.messages)  # type: ignore[arg-type]
    users = sorted(stream.valid_per_user)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=90,
            what="every valid event after the huge one to be applied",
        )
        dead = read_topic(settings, settings.topic_dlq, expect=1)
    finally:
        worker.stop()
    record = decode_json(dead[0][1])
    assert record["truncated"] is True and record["raw_bytes"] == len(huge)
    assert record["raw_sha256"] == hashlib.sha256(huge).hexdigest()
    log = (tmp_path / "worker.log").read_text()
    assert "Traceback" not in log, "an error escaped to faust"


def test_a_full_redis_is_waited_out_with_exact_counts(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    server = start_redis(tmp_path)
    url = f"redis://127.0.0.1:{server.port}/0"
    admin = redis.Redis.from_url(url)
    settings = isolated_settings(services, redis_url=url, batch_size=50, redis_retry_max_s=0.5)
    stream = mixed_stream(valid=2000, users=40, malformed_every=10_000, seed=8)
    produce(settings, stream.messages)  # type: ignore[arg-type]
    users = sorted(stream.valid_per_user)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: 0 < sum(events_applied(settings, users).values()) < 1500,
            timeout=90,
            what="the worker to be mid-stream",
            interval=0.05,
        )
        admin.config_set("maxmemory", 1)  # every write is refused with OOM now
        time.sleep(3)
        stuck = sum(events_applied(settings, users).values())
        time.sleep(2)
        assert sum(events_applied(settings, users).values()) == stuck, "wrote past OOM?"
        assert worker.process.poll() is None
        admin.config_set("maxmemory", 0)
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=90,
            what="exact counts once memory is back",
        )
        dead = read_topic(settings, settings.topic_dlq, expect=0, timeout=2)
    finally:
        worker.stop()
        admin.close()
        server.stop()
    assert dead == [], "a refused write dead-lettered valid events"
    log = (tmp_path / "worker.log").read_text()
    assert "Redis unavailable" in log and "OutOfMemory" in log


def _replication_caught_up(primary: redis.Redis, replica: redis.Redis) -> bool:
    info: dict[str, object] = replica.info("replication")
    if info.get("master_link_status") != "up":
        return False
    offset = primary.info("replication")["master_repl_offset"]
    return bool(info.get("slave_repl_offset", -1) == offset)


def test_a_read_only_redis_after_a_failover_is_waited_out(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    primary_server = start_redis(tmp_path / "p")
    replica_server = start_redis(tmp_path / "r")
    primary = redis.Redis(port=primary_server.port)
    replica = redis.Redis(port=replica_server.port)
    url = f"redis://127.0.0.1:{primary_server.port}/0"
    settings = isolated_settings(services, redis_url=url, batch_size=50, redis_retry_max_s=0.5)
    stream = mixed_stream(valid=2000, users=40, malformed_every=10_000, seed=10)
    produce(settings, stream.messages)  # type: ignore[arg-type]
    users = sorted(stream.valid_per_user)
    replica.replicaof("127.0.0.1", primary_server.port)
    wait_until(lambda: _replication_caught_up(primary, replica), 30, "the replica to sync")
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: 0 < sum(events_applied(settings, users).values()) < 1500,
            timeout=90,
            what="the worker to be mid-stream",
            interval=0.05,
        )
        # Failover without losing a write: pause writers, let the replica catch
        # up, promote it, make the old primary its replica (read-only to the worker).
        primary.client_pause(10_000, all=False)
        wait_until(lambda: _replication_caught_up(primary, replica), 10, "the replica")
        replica.replicaof("NO", "ONE")
        primary.replicaof("127.0.0.1", replica_server.port)
        primary.client_unpause()
        wait_until(lambda: _replication_caught_up(replica, primary), 30, "the old primary")
        time.sleep(3)
        assert worker.process.poll() is None
        # And back: the old primary is promoted again, with every write made so far.
        primary.replicaof("NO", "ONE")
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=90,
            what="exact counts after the failover",
        )
        dead = read_topic(settings, settings.topic_dlq, expect=0, timeout=2)
    finally:
        worker.stop()
        primary.close()
        replica.close()
        primary_server.stop()
        replica_server.stop()
    assert dead == [], "a read-only Redis dead-lettered valid events"
    log = (tmp_path / "worker.log").read_text()
    assert "Redis unavailable" in log and "ReadOnly" in log


def test_sigterm_while_redis_is_down_stops_the_worker_and_loses_nothing(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    port = free_port()
    server = start_redis(tmp_path, port, appendonly=True)
    settings = isolated_settings(
        services, redis_url=f"redis://127.0.0.1:{port}/0", batch_size=50, redis_retry_max_s=1.0
    )
    stream = mixed_stream(valid=2000, users=40, malformed_every=10_000, seed=9)
    produce(settings, stream.messages)  # type: ignore[arg-type]
    users = sorted(stream.valid_per_user)
    worker = start_worker(settings, tmp_path / "worker-1.log")
    try:
        wait_until(
            lambda: 0 < sum(events_applied(settings, users).values()) < 1500,
            timeout=90,
            what="the worker to be mid-stream",
            interval=0.05,
        )
        server.stop()
        time.sleep(2)  # the worker is in its retry loop now
        started = time.monotonic()
        os.killpg(worker.process.pid, signal.SIGTERM)
        worker.process.wait(30)
        stopped_after = time.monotonic() - started
    finally:
        worker.kill()
    assert stopped_after < 10, f"SIGTERM took {stopped_after:.1f}s"
    server = start_redis(tmp_path, port, appendonly=True)
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=120,
            what="exact counts after the restart",
        )
    finally:
        worker.stop()
        server.stop()
