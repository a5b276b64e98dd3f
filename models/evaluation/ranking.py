"""The rank of the chosen item under a full ranking, with the worker's exclusions.

Unlike :func:`models.ranking_metrics.ranks_of_targets`, an excluded target is
a miss: the worker never shows a user an item it excludes for them, so the
user cannot have picked it from the list.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

MISS = int(np.iinfo(np.int64).max)
"""Rank of a target no list can contain (new, excluded or unscorable): a miss at every k."""


def rank_of(scores: np.ndarray, target: int | None, exclude: Collection[int] = ()) -> int:
    """0-based rank of ``target`` among the non-excluded rows; ties go to the lower row.

    >>> scores = np.array([0.5, 0.9, 0.5, 0.1])
    >>> rank_of(scores, 2), rank_of(scores, 2, exclude=[1]), rank_of(scores, 1, exclude=[1])
    (2, 1, 9223372036854775807)
    >>> rank_of(scores, None), rank_of(scores, 7)
    (9223372036854775807, 9223372036854775807)
    """
    if target is None or target >= scores.shape[0] or target in exclude:
        return MISS
    value = scores[target]
    if not np.isfinite(value):
        return MISS
    rank = int(np.count_nonzero(scores > value)) + int(np.count_nonzero(scores[:target] == value))
    for row in exclude:
        if row < scores.shape[0] and (
            scores[row] > value or (scores[row] == value and row < target)
        ):
            rank -= 1
    return rank


def top_rows(scores: np.ndarray, k: int, exclude: Collection[int] = ()) -> np.ndarray:
    """The ``k`` best rows (fewer if there are fewer finite ones), best first.

    >>> top_rows(np.array([0.2, 0.9, 0.5, -np.inf]), 3, exclude=[1]).tolist()
    [2, 0]
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude:
        scores[np.fromiter(exclude, dtype=np.intp)] = -np.inf
    k = min(k, int(np.count_nonzero(np.isfinite(scores))))
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    part = np.argpartition(-scores, k - 1)[:k]
    best: np.ndarray = part[np.lexsort((part, -scores[part]))]
    return best
