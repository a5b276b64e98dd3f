"""Event-to-recommendation latency, matched by event id."""

from __future__ import annotations

import time

import numpy as np


class LatencyTracker:
    """Remembers when each event was sent and times its recommendation.

    >>> t = LatencyTracker()
    >>> t.sent("e1"); t.received("e1"); t.count, t.pending
    (1, 0)
    """

    def __init__(self) -> None:
        self._sent_at: dict[str, float] = {}
        self._latencies: list[float] = []

    def sent(self, event_id: str) -> None:
        self._sent_at[event_id] = time.monotonic()

    def received(self, event_id: str) -> None:
        sent_at = self._sent_at.pop(event_id, None)
        if sent_at is not None:
            self._latencies.append(time.monotonic() - sent_at)

    @property
    def count(self) -> int:
        return len(self._latencies)

    @property
    def pending(self) -> int:
        return len(self._sent_at)

    def percentiles(self) -> tuple[float, float]:
        """p50 and p99 in seconds (NaN when nothing was timed)."""
        if not self._latencies:
            return float("nan"), float("nan")
        p50, p99 = np.percentile(np.asarray(self._latencies), [50, 99])
        return float(p50), float(p99)
