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
    scores: np.ndarray,
    k: int,
    exclude: Sequence[Sequence[int]] | np.ndarray = (),
    exclude_all: Sequence[int] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`top_k` of precomputed score rows (users × items); ``scores`` is overwritten
    where excluded. ``exclude`` may be an array (users × width, -1 = nothing);
    ``exclude_all`` are rows no user gets."""
    k_eff = min(k, scores.shape[1])
    if isinstance(exclude, np.ndarray):
        user_rows, slots = np.nonzero(exclude >= 0)
        scores[user_rows, exclude[user_rows, slots]] = -np.inf
    else:
        excluded = [(row, rows_out) for row, rows_out in enumerate(exclude) if len(rows_out)]
        if excluded:
            user_rows = np.repeat(
                np.fromiter((row for row, _ in excluded), np.intp, len(excluded)),
                [len(rows_out) for _, rows_out in excluded],
            )
            item_rows = np.concatenate([np.asarray(r, dtype=np.intp) for _, r in excluded])
            scores[user_rows, item_rows] = -np.inf
    if len(exclude_all):
        scores[:, np.asarray(exclude_all, np.intp)] = -np.inf
    if k_eff == 0:
        empty = np.full((scores.shape[0], k), -1, dtype=np.intp)
        return empty, np.full((scores.shape[0], k), -np.inf, dtype=np.float32)
    best, best_scores = _best_sorted(scores, k_eff)
    best = np.where(np.isneginf(best_scores), -1, best)
    if k_eff < k:
        pad = k - k_eff
        best = np.pad(best, ((0, 0), (0, pad)), constant_values=-1)
        best_scores = np.pad(best_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return best, best_scores.astype(np.float32)


def _best_sorted(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` best columns, best first, and their scores (``0 < k <= columns``).

    A row whose ``k`` best scores are distinct, finite and above the rest is
    answered from its k-th best value (a value partition, cheaper than an index
    one) and a sort of those ``k``; any other row (ties, -inf, NaN) goes through
    the index partition and stable sort, so every row gets what that gives.
    """
    users, n = scores.shape
    best = np.empty((users, k), np.intp)
    best_scores = np.empty((users, k), scores.dtype)
    slow = np.ones(users, bool)
    if k < n and users:
        kth = np.partition(scores, n - k, axis=1)[:, n - k]
        above = scores >= kth[:, None]
        exact = np.isfinite(kth) & (np.count_nonzero(above, axis=1) == k)
        fast = np.flatnonzero(exact)
        if fast.size:
            every = fast.size == users  # the usual case: no copies of the rows
            cols = np.nonzero(above if every else above[fast])[1].reshape(fast.size, k)
            values = np.take_along_axis(scores if every else scores[fast], cols, axis=1)
            order = np.argsort(-values, axis=1, kind="stable")
            values = np.take_along_axis(values, order, axis=1)
            distinct = (values[:, 1:] != values[:, :-1]).all(axis=1)
            done = fast[distinct]
            best[done] = np.take_along_axis(cols, order, axis=1)[distinct]
            best_scores[done] = values[distinct]
            slow[done] = False
    rows = np.flatnonzero(slow)
    if rows.size:
        some = scores[rows]
        part = np.argpartition(-some, k - 1, axis=1)[:, :k]
        part_scores = np.take_along_axis(some, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        best[rows] = np.take_along_axis(part, order, axis=1)
        best_scores[rows] = np.take_along_axis(part_scores, order, axis=1)
    return best, best_scores
