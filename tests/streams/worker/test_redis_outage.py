"""A Redis that goes away mid-stream is waited for: nothing skipped, nothing doubled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.devtools.embedded import EmbeddedServices, free_port, start_redis, start_worker
from tests.support.harness import (
    events_applied,
    isolated_settings,
    produce,
    wait_until,
)
from tests.support.mixed_stream import mixed_stream

pytestmark = pytest.mark.slow


def test_worker_waits_out_a_redis_restart(services: EmbeddedServices, tmp_path: Path) -> None:
    port = free_port()
    redis = start_redis(tmp_path, port, appendonly=True)
    settings = isolated_settings(
        services, redis_url=f"redis://127.0.0.1:{port}/0", batch_size=50, redis_retry_max_s=0.5
    )
    stream = mixed_stream(valid=3000, users=50, malformed_every=10_000, seed=21)
    produce(settings, stream.messages)  # type: ignore[arg-type]
    users = sorted(stream.valid_per_user)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: 0 < sum(events_applied(settings, users).values()) < 2000,
            timeout=90,
            what="the worker to be mid-stream",
            interval=0.05,
        )
        redis.stop()  # SIGTERM: the AOF is flushed, as in a clean restart
        time.sleep(3)
        assert worker.process.poll() is None, "the worker died while Redis was away"
        redis = start_redis(tmp_path, port, appendonly=True)
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=120,
            what="exact counts after Redis came back",
        )
    finally:
        worker.stop()
        redis.stop()
    assert "Redis unavailable" in (tmp_path / "worker.log").read_text()
