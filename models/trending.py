"""Trending items: time-decayed popularity, for users with nothing to go on."""

from __future__ import annotations

import math

import numpy as np


class TrendingItems:
    """Each event adds ``weight`` to its item; every score halves per half-life.

    Scores are kept relative to a reference time (``w · 2^((t − t0)/h)``), so an
    update is O(1) and ranking needs no pass over all items.

    >>> trend = TrendingItems(half_life_s=10.0)
    >>> for item, ts in [(0, 0.0), (0, 1.0), (1, 30.0)]:
    ...     trend.add(item, ts)
    >>> trend.top(2).tolist()
    [1, 0]
    """

    def __init__(self, half_life_s: float, capacity: int = 1024) -> None:
        if not half_life_s > 0:
            raise ValueError("half_life_s must be positive")
        self.half_life_s = half_life_s
        self.reference_ts: float | None = None
        self.scores = np.zeros(capacity, dtype=np.float64)

    def add(self, item_row: int, ts: float, weight: float = 1.0) -> None:
        if self.reference_ts is None:
            self.reference_ts = ts
        exponent = (ts - self.reference_ts) / self.half_life_s
        if exponent > 500:  # keep the scaled scores finite
            self.scores *= math.pow(2.0, -exponent)
            self.reference_ts, exponent = ts, 0.0
        if item_row >= self.scores.shape[0]:
            grown = np.zeros(max(item_row + 1, 2 * self.scores.shape[0]), dtype=np.float64)
            grown[: self.scores.shape[0]] = self.scores
            self.scores = grown
        self.scores[item_row] += max(weight, 0.0) * math.pow(2.0, exponent)

    def add_many(self, item_rows: np.ndarray, ts: np.ndarray, weights: np.ndarray) -> None:
        """:meth:`add` for many events at once (same result, one pass)."""
        if not len(item_rows):
            return
        ts = np.asarray(ts, dtype=np.float64)
        if self.reference_ts is None:
            self.reference_ts = float(ts[0])
        latest = (float(ts.max()) - self.reference_ts) / self.half_life_s
        if latest > 500:  # keep the scaled scores finite
            self.scores *= math.pow(2.0, -latest)
            self.reference_ts = float(ts.max())
        needed = int(np.max(item_rows)) + 1
        if needed > self.scores.shape[0]:
            grown = np.zeros(max(needed, 2 * self.scores.shape[0]), dtype=np.float64)
            grown[: self.scores.shape[0]] = self.scores
            self.scores = grown
        exponents = (ts - self.reference_ts) / self.half_life_s
        gains = np.maximum(np.asarray(weights, dtype=np.float64), 0.0) * np.exp2(exponents)
        np.add.at(self.scores, np.asarray(item_rows, dtype=np.intp), gains)

    def top(self, k: int, exclude: list[int] | None = None) -> np.ndarray:
        """Rows of the ``k`` most trending items, best first."""
        scores = self.scores.copy()
        if exclude:
            scores[np.asarray(exclude, dtype=np.intp)] = -np.inf
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return np.zeros(0, dtype=np.intp)
        part = np.argpartition(-scores, k - 1)[:k]
        ranked: np.ndarray = part[np.argsort(-scores[part], kind="stable")]
        return ranked
