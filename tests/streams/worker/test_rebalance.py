"""Many workers in one group: a worker joining and one leaving mid-stream lose nothing.

Partitions move between processes twice while events flow; every user's
``events_applied`` must still equal their valid events exactly (nothing lost
at a revocation, nothing applied twice by the new owner's replay).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.devtools.embedded import EmbeddedServices, start_worker
from tests.support.harness import events_applied, isolated_settings, produce, wait_until
from tests.support.mixed_stream import mixed_stream

pytestmark = pytest.mark.slow


def test_a_worker_joining_and_one_leaving_mid_stream_keep_exact_counts(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(
        services, topic_partitions=8, batch_size=50, stats_log_interval_s=0.5
    )
    first = mixed_stream(valid=4000, users=80, malformed_every=10_000, seed=31)
    second = mixed_stream(valid=2000, users=80, malformed_every=10_000, seed=32)
    third = mixed_stream(valid=2000, users=80, malformed_every=10_000, seed=33)
    users = sorted(first.valid_per_user + second.valid_per_user + third.valid_per_user)

    def applied() -> int:
        return sum(events_applied(settings, users).values())

    produce(settings, first.messages)  # type: ignore[arg-type]
    one = start_worker(settings, tmp_path / "worker-1.log")
    two = None
    try:
        wait_until(lambda: applied() > 0, timeout=90, what="the first worker to start")
        # A second member joins: the group rebalances while the first is mid-stream.
        two = start_worker(settings, tmp_path / "worker-2.log")
        # Events for it only once it holds partitions: an idle machine's first worker
        # otherwise applies all of them before the join completes (seen in CI).
        wait_until(
            lambda: "Executing _on_partitions_assigned" in _log(tmp_path / "worker-2.log"),
            timeout=90,
            what="the second worker to be assigned partitions",
        )
        produce(settings, second.messages)  # type: ignore[arg-type]
        both = first.valid_per_user + second.valid_per_user
        wait_until(
            lambda: events_applied(settings, users) == {u: both.get(u, 0) for u in users},
            timeout=90,
            what="exact counts with two workers",
        )
        # The first leaves (SIGTERM) while events still flow: its partitions move back.
        produce(settings, third.messages)  # type: ignore[arg-type]
        one.stop()
        expected = first.valid_per_user + second.valid_per_user + third.valid_per_user
        wait_until(
            lambda: events_applied(settings, users) == dict(expected),
            timeout=180,
            what="exact counts after a join and a leave",
        )
    finally:
        one.stop()
        if two is not None:
            two.stop()
    # Each worker logs its totals when it stops: both applied events.
    by_one, by_two = _applied_by(tmp_path / "worker-1.log"), _applied_by(tmp_path / "worker-2.log")
    assert by_one > 0 and by_two > 0, (by_one, by_two)


def _log(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _applied_by(log: Path) -> int:
    """The last ``totals: applied=N`` a worker logged (0 before its first)."""
    found = re.findall(r"totals: applied=(\d+)", log.read_text()) if log.exists() else []
    return int(found[-1]) if found else 0
