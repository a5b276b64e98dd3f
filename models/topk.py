"""Top-K retrieval by dot product, vectorised over the whole item matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class TopKIndex(Protocol):
    """An index built over a catalogue that answers :func:`top_k` (``models.ann_index``)."""

    def top_k(
        self, users: np.ndarray, items: np.ndarray, k: int, exclude: Sequence[Sequence[int]] = ()
    ) -> tuple[np.ndarray, np.ndarray]: ...


def top_k(
    users: np.ndarray, items: np.ndarray, k: int, exclude: Sequence[Sequence[int]] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` item rows per user row, best first, and their scores.

    ``exclude[u]`` lists item rows that user ``u`` must not get. Rows with
    fewer than ``k`` candidates are padded with index -1 and score -inf.

    >>> users = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    >>> items = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], np.float32)
    >>> idx, _ = top_k(users, items, k=2, exclude=[[0], []])
    >>> idx.tolist()
    [[1, 2], [2, 1]]
    """
    users = np.atleast_2d(users)
    n_items = items.shape[0]
    scores = users @ items.T if n_items else np.zeros((users.shape[0], 0), np.float32)
    return top_k_of_scores(scores, k, exclude)


def top_k_of_scores(
    scores: np.ndarray, k: int, exclude: Sequence[Sequence[int]] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of precomputed score rows (users × items); ``scores`` is overwritten
    where excluded."""
    k_eff = min(k, scores.shape[1])
    excluded = [(row, rows_out) for row, rows_out in enumerate(exclude) if len(rows_out)]
    if excluded:
        user_rows = np.repeat(
            np.fromiter((row for row, _ in excluded), np.intp, len(excluded)),
            [len(rows_out) for _, rows_out in excluded],
        )
        item_rows = np.concatenate([np.asarray(r, dtype=np.intp) for _, r in excluded])
        scores[user_rows, item_rows] = -np.inf
    if k_eff == 0:
        empty = np.full((scores.shape[0], k), -1, dtype=np.intp)
        return empty, np.full((scores.shape[0], k), -np.inf, dtype=np.float32)
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    best = np.where(np.isneginf(best_scores), -1, best)
    if k_eff < k:
        pad = k - k_eff
        best = np.pad(best, ((0, 0), (0, pad)), constant_values=-1)
        best_scores = np.pad(best_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return best, best_scores.astype(np.float32)
