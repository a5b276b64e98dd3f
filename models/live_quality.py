"""Live quality: each chosen item scored against the list its user was last shown.

The prequential protocol of ``interests evaluate`` run on live traffic: the
item a user chose is the one relevant item, its 0-based rank in the list the
user was last shown gives HR@K, NDCG@K and MRR@K (``models.ranking_metrics``),
and only then is the event applied. Figures are kept per model version (the
version that made the list): totals, so rates can be computed, and a rolling
window of the last N scored events for a current figure.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.ranking_metrics import hit_rate_from_ranks, mrr_from_ranks, ndcg_from_ranks


def rank_in_shown(shown: Sequence[str], chosen: str, k: int) -> int:
    """0-based position of ``chosen`` among the first ``k`` of ``shown``; ``k`` (a miss) if absent.

    >>> rank_in_shown(["a", "b", "c"], "b", 3), rank_in_shown(["a", "b", "c"], "c", 2)
    (1, 2)
    """
    for position, item in enumerate(shown[:k]):
        if item == chosen:
            return position
    return k


@dataclass(frozen=True, slots=True)
class Scored:
    """Per-event figures of some ranks: hits (0/1), NDCG and reciprocal ranks."""

    hits: np.ndarray
    ndcg: np.ndarray
    mrr: np.ndarray

    @classmethod
    def of(cls, ranks: Sequence[int], k: int) -> Scored:
        r = np.asarray(ranks, dtype=np.int64)
        return cls(hit_rate_from_ranks(r, k), ndcg_from_ranks(r, k), mrr_from_ranks(r, k))


@dataclass(frozen=True, slots=True)
class Figures:
    """Mean HR/NDCG/MRR over ``events`` scored events (0 when there are none)."""

    events: int
    hit_rate: float
    ndcg: float
    mrr: float

    @classmethod
    def of(cls, scored: Scored) -> Figures:
        n = len(scored.hits)
        if n == 0:
            return cls(0, 0.0, 0.0, 0.0)
        return cls(
            n, float(scored.hits.mean()), float(scored.ndcg.mean()), float(scored.mrr.mean())
        )


class LiveQuality:
    """Totals and a rolling window of the last ``window`` ranks, per model version."""

    def __init__(self, k: int, window: int) -> None:
        if k <= 0 or window <= 0:
            raise ValueError("k and window must be positive")
        self.k = k
        self.window = window
        self._recent: dict[str, deque[int]] = {}
        self._totals: dict[str, list[float]] = {}  # events, hits, ndcg sum, mrr sum

    def add(self, version: str, ranks: Sequence[int]) -> Scored:
        """Record events of ``version``'s lists; their per-event figures (for counters)."""
        scored = Scored.of(ranks, self.k)
        self._recent.setdefault(version, deque(maxlen=self.window)).extend(ranks)
        totals = self._totals.setdefault(version, [0.0, 0.0, 0.0, 0.0])
        totals[0] += len(ranks)
        totals[1] += float(scored.hits.sum())
        totals[2] += float(scored.ndcg.sum())
        totals[3] += float(scored.mrr.sum())
        return scored

    def recent(self, version: str) -> Figures:
        """The figures over the last ``window`` scored events of ``version``."""
        return Figures.of(Scored.of(list(self._recent.get(version, ())), self.k))

    def total(self, version: str) -> Figures:
        """The figures over every event of ``version`` scored by this process."""
        events, hits, ndcg, mrr = self._totals.get(version, [0.0, 0.0, 0.0, 0.0])
        if not events:
            return Figures(0, 0.0, 0.0, 0.0)
        return Figures(int(events), hits / events, ndcg / events, mrr / events)

    def versions(self) -> list[str]:
        return list(self._totals)

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Every version's window figures, as a dashboard reads them (JSON-ready)."""
        out: dict[str, dict[str, float]] = {}
        for version in self.versions():
            f, t = self.recent(version), self.total(version)
            out[version] = {
                "k": self.k,
                "window_events": f.events,
                "hit_rate": f.hit_rate,
                "ndcg": f.ndcg,
                "mrr": f.mrr,
                "total_events": t.events,
            }
        return out
