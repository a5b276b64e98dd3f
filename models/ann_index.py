"""Approximate top-K by inner product: an HNSW graph (faiss) for large catalogues.

Same contract as :func:`models.topk.top_k`. The graph only proposes
candidates; they are re-scored exactly on the current item rows, so vectors
the online learner moved since the build score as they are now, and rows
added after the build (new catalogue items) are scored by brute force.
Excluded items are honoured by over-fetching (``k`` plus the most a user
excludes, at least ``ef_search``), then filtering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np


@dataclass(frozen=True, slots=True)
class HnswParams:
    """Graph degree, build and query candidate lists (recall against time and memory)."""

    m: int = 16
    ef_construction: int = 200
    ef_search: int = 128


class HnswTopK:
    """Top-K over the item rows present at build time, plus any added since."""

    def __init__(self, items: np.ndarray, params: HnswParams, build_threads: int = 0) -> None:
        """``build_threads``: OpenMP threads of the build, for the calling thread only
        (0: as the process is set); queries run on the thread that calls :meth:`top_k`."""
        rows = np.ascontiguousarray(items, dtype=np.float32)
        self.size, self.dim = rows.shape
        self.params = params
        self._index = faiss.IndexHNSWFlat(self.dim, params.m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = params.ef_construction
        self._index.hnsw.efSearch = params.ef_search
        before = faiss.omp_get_max_threads()
        if build_threads:
            faiss.omp_set_num_threads(build_threads)
        try:
            self._index.add(rows)
        finally:
            faiss.omp_set_num_threads(before)

    def top_k(
        self,
        users: np.ndarray,
        items: np.ndarray,
        k: int,
        exclude: Sequence[Sequence[int]] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` rows of ``items`` per user row, best first (-1 / -inf padded)."""
        users = np.ascontiguousarray(np.atleast_2d(users), dtype=np.float32)
        n_users = users.shape[0]
        most_excluded = max((len(e) for e in exclude), default=0)
        # The search visits ef_search candidates anyway: keeping them all costs little and
        # leaves room for rows the learner moved since the build.
        fetch = min(self.size, max(self.params.ef_search, k + most_excluded))
        if fetch > 0 and n_users:
            _, found = self._index.search(users, fetch)
            candidates = np.asarray(found, dtype=np.intp)
        else:
            candidates = np.zeros((n_users, 0), np.intp)
        added = np.arange(self.size, items.shape[0], dtype=np.intp)
        if added.size:
            candidates = np.hstack([candidates, np.broadcast_to(added, (n_users, added.size))])
        valid = candidates >= 0
        safe = np.where(valid, candidates, 0)
        scores = np.einsum("ud,ucd->uc", users, items[safe]).astype(np.float32)
        scores[~valid] = -np.inf
        scores[_excluded_mask(candidates, exclude, items.shape[0])] = -np.inf
        return _best(candidates, scores, k)


def _excluded_mask(
    candidates: np.ndarray, exclude: Sequence[Sequence[int]], n_items: int
) -> np.ndarray:
    """Which candidates a user excludes, as one ``isin`` over (user, item) codes."""
    pairs = [(u, rows) for u, rows in enumerate(exclude) if len(rows)]
    if not pairs:
        return np.zeros(candidates.shape, bool)
    span = max(n_items, 1)
    codes = np.concatenate([u * span + np.asarray(rows, np.intp) for u, rows in pairs])
    user_of = np.arange(candidates.shape[0], dtype=np.intp)[:, None]
    return np.isin(user_of * span + candidates, codes)


def _best(candidates: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_users, width = candidates.shape
    best = np.full((n_users, k), -1, np.intp)
    best_scores = np.full((n_users, k), -np.inf, np.float32)
    take = min(k, width)
    if take == 0:
        return best, best_scores
    part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    rows = np.take_along_axis(candidates, top, axis=1)
    best[:, :take] = np.where(np.isneginf(top_scores), -1, rows)
    best_scores[:, :take] = top_scores
    return best, best_scores


def build_top_k(
    items: np.ndarray, min_items: int, params: HnswParams, build_threads: int = 0
) -> HnswTopK | None:
    """An index for a catalogue above ``min_items`` rows; ``None``: brute force is faster."""
    if items.shape[0] <= min_items:
        return None
    return HnswTopK(items, params, build_threads)
