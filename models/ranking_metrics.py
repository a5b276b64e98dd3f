"""Ranking quality of next-item recommendations: HR, NDCG, MRR, coverage, novelty.

Every metric has one relevant item (the item the user chose next), so each is a
function of that item's 0-based rank alone; the batch versions take an array of
ranks and return one value per row, so callers can average or plot them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FloatArray = np.ndarray
# The rank of a target missing from a (possibly short) list: a miss for every k.
_ABSENT = int(np.iinfo(np.int64).max)


def _rank_in_list(ranked: Sequence[int], target: int) -> int:
    """Position of ``target`` in ``ranked``; past any ``k`` when it is absent."""
    for position, item in enumerate(ranked):
        if item == target:
            return position
    return _ABSENT


def hit_rate_at_k(ranked: Sequence[int], target: int, k: int) -> float:
    """1.0 when ``target`` is among the first ``k`` items of ``ranked``.

    >>> hit_rate_at_k([4, 2, 7], target=2, k=2), hit_rate_at_k([4, 2, 7], target=7, k=2)
    (1.0, 0.0)
    """
    return float(hit_rate_from_ranks(np.array([_rank_in_list(ranked, target)]), k)[0])


def ndcg_at_k(ranked: Sequence[int], target: int, k: int) -> float:
    """NDCG with one relevant item: 1/log2(rank+2) inside the top ``k``.

    >>> ndcg_at_k([4, 2, 7], target=4, k=3), ndcg_at_k([4, 2, 7], target=2, k=3)
    (1.0, 0.6309297535714575)
    """
    return float(ndcg_from_ranks(np.array([_rank_in_list(ranked, target)]), k)[0])


def mrr_at_k(ranked: Sequence[int], target: int, k: int) -> float:
    """Reciprocal rank 1/(rank+1) inside the top ``k``, else 0.

    >>> mrr_at_k([4, 2, 7], target=7, k=3), mrr_at_k([4, 2, 7], target=9, k=3)
    (0.3333333333333333, 0.0)
    """
    return float(mrr_from_ranks(np.array([_rank_in_list(ranked, target)]), k)[0])


def hit_rate_from_ranks(ranks: np.ndarray, k: int) -> FloatArray:
    """Per-row hit (1.0/0.0) from 0-based target ranks.

    >>> hit_rate_from_ranks(np.array([0, 9, 10]), k=10).tolist()
    [1.0, 1.0, 0.0]
    """
    return (np.asarray(ranks) < k).astype(np.float64)


def ndcg_from_ranks(ranks: np.ndarray, k: int) -> FloatArray:
    """Per-row NDCG@k from 0-based target ranks (ideal DCG is 1).

    >>> ndcg_from_ranks(np.array([0, 1, 3, 5]), k=5).round(4).tolist()
    [1.0, 0.6309, 0.4307, 0.0]
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def mrr_from_ranks(ranks: np.ndarray, k: int) -> FloatArray:
    """Per-row reciprocal rank truncated at ``k`` from 0-based target ranks.

    >>> mrr_from_ranks(np.array([0, 1, 3, 5]), k=5).tolist()
    [1.0, 0.5, 0.25, 0.0]
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0)


def ranks_of_targets(
    scores: np.ndarray, targets: np.ndarray, exclude: Sequence[Sequence[int]] | None = None
) -> np.ndarray:
    """0-based rank of each row's target under a full ranking of ``scores`` (U×N).

    Rank counts the items scoring strictly higher plus the equal-scored items
    with a lower index, so ties are broken by index, deterministically.
    ``exclude[u]`` items are scored -inf for row ``u``, never the target itself
    (a user may well re-choose an item they have seen).

    >>> scores = np.array([[0.1, 0.9, 0.5, 0.9], [0.3, 0.3, 0.3, 0.3]])
    >>> ranks_of_targets(scores, np.array([3, 2])).tolist()
    [1, 2]
    >>> ranks_of_targets(scores, np.array([3, 2]), exclude=[[1, 3], [0]]).tolist()
    [0, 1]
    """
    scores = np.array(scores, dtype=np.float64, copy=True, ndmin=2)
    targets = np.asarray(targets, dtype=np.intp)
    rows = np.arange(scores.shape[0])
    target_scores = scores[rows, targets]
    if exclude is not None:
        for row, items in enumerate(exclude):
            if len(items):
                scores[row, np.asarray(items, dtype=np.intp)] = -np.inf
        scores[rows, targets] = target_scores
    higher = (scores > target_scores[:, None]).sum(axis=1)
    lower_index = np.arange(scores.shape[1])[None, :] < targets[:, None]
    tied_before = ((scores == target_scores[:, None]) & lower_index).sum(axis=1)
    ranks: np.ndarray = (higher + tied_before).astype(np.int64)
    return ranks


def catalog_coverage(rec_lists: Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the catalog that appears in at least one list (-1 padding ignored).

    >>> catalog_coverage([[0, 1], [1, 2, -1]], n_items=6)
    0.5
    """
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    shown = {int(item) for items in rec_lists for item in items if int(item) >= 0}
    return len(shown) / n_items


def novelty(rec_lists: Sequence[Sequence[int]], item_popularity_counts: np.ndarray) -> float:
    """Mean self-information -log2 p(item) of recommended items; rare is novel.

    p = count / total interactions; a never-seen item counts as seen once so
    its information stays finite. -1 padding is ignored; no items give 0.

    >>> novelty([[0, 1], [2]], np.array([2, 1, 1]))
    1.6666666666666667
    """
    counts = np.asarray(item_popularity_counts, dtype=np.float64)
    items = np.array([int(i) for lst in rec_lists for i in lst if int(i) >= 0], dtype=np.intp)
    if items.size == 0:
        return 0.0
    total = max(float(counts.sum()), 1.0)
    p = np.maximum(counts[items], 1.0) / total
    return float(np.mean(-np.log2(p)))
