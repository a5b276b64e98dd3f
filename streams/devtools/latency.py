"""Event-to-recommendation latency, matched by event id."""

from __future__ import annotations

import time

import numpy as np


class LatencyTracker:
    """Remembers when each event was sent and times the recommendation that covers it.

    A worker emits one recommendation per user per batch, naming the user's
    last event: it covers that event and the user's earlier ones, each timed
    from its own send.

    >>> t = LatencyTracker()
    >>> t.sent("e1", "u1"); t.sent("e2", "u1"); t.sent("e3", "u2"); t.received("e2")
    >>> t.count, t.pending
    (2, 1)
    """

    def __init__(self) -> None:
        self._sent_at: dict[str, float] = {}
        self._user_of: dict[str, str] = {}
        self._by_user: dict[str, list[str]] = {}
        self._latencies: list[float] = []

    def sent(self, event_id: str, user_id: str | None = None) -> None:
        self._sent_at[event_id] = time.monotonic()
        if user_id is not None:
            self._user_of[event_id] = user_id
            self._by_user.setdefault(user_id, []).append(event_id)

    def received(self, event_id: str) -> None:
        now = time.monotonic()
        user_id = self._user_of.pop(event_id, None)
        covered = [event_id]
        if user_id is not None:
            queue = self._by_user.get(user_id, [])
            if event_id in queue:
                cut = queue.index(event_id) + 1
                covered, self._by_user[user_id] = queue[:cut], queue[cut:]
        for covered_id in covered:
            self._user_of.pop(covered_id, None)
            sent_at = self._sent_at.pop(covered_id, None)
            if sent_at is not None:
                self._latencies.append(now - sent_at)

    @property
    def count(self) -> int:
        return len(self._latencies)

    @property
    def pending(self) -> int:
        return len(self._sent_at)

    def seconds(self) -> np.ndarray:
        """Every latency timed so far, in seconds, in the order they were timed."""
        return np.asarray(self._latencies, dtype=np.float64)

    def percentiles(self) -> tuple[float, float]:
        """p50 and p99 in seconds (NaN when nothing was timed)."""
        if not self._latencies:
            return float("nan"), float("nan")
        p50, p99 = np.percentile(np.asarray(self._latencies), [50, 99])
        return float(p50), float(p99)
