"""Synthetic follow ties with ground truth, and how well a cold list serves a new user.

The drift generator (``streams.devtools.synthetic``) gives every user a taste
category at every moment. Ties extend it: a new user of taste ``c`` follows
``follows`` existing users, each one, with probability ``1 − noise``, drawn
among the users whose current category is ``c``, else drawn among everyone.
A cold list (the social start, or trending) is then scored against the new
user's first events, which come from their taste like any user's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.ranking_metrics import hit_rate_at_k, ndcg_at_k


def tie_followees(
    tastes: np.ndarray, taste: int, follows: int, noise: float, rng: np.random.Generator
) -> list[int]:
    """Distinct existing users (indices into ``tastes``) that a new user of ``taste`` follows.

    >>> tastes = np.array([0, 0, 0, 1, 1, 1])
    >>> sorted(tastes[tie_followees(tastes, 1, 3, 0.0, np.random.default_rng(0))].tolist())
    [1, 1, 1]
    """
    alike = np.flatnonzero(tastes == taste)
    chosen: list[int] = []
    while len(chosen) < min(follows, len(tastes)):
        pool = alike if alike.size and rng.random() >= noise else np.arange(len(tastes))
        free = np.setdiff1d(pool, chosen)
        if not free.size:
            free = np.setdiff1d(np.arange(len(tastes)), chosen)
        chosen.append(int(rng.choice(free)))
    return chosen


def cold_list_scores(
    lists: np.ndarray, targets: Sequence[Sequence[int]], k: int = 10
) -> tuple[float, float]:
    """Mean NDCG@k and HR@k of each user's one list (row) against each of their target
    rows (their first events), averaged per user, then over users.

    >>> cold_list_scores(np.array([[3, 1], [0, 2]]), [[3, 9], [2]], k=2)
    (0.5655, 0.75)
    """
    ndcg, hit = [], []
    for ranked, wanted in zip(lists.tolist(), targets, strict=True):
        if not wanted:
            continue
        ndcg.append(np.mean([ndcg_at_k(ranked, t, k) for t in wanted]))
        hit.append(np.mean([hit_rate_at_k(ranked, t, k) for t in wanted]))
    return float(np.mean(ndcg)), float(np.mean(hit))


def score_table(scores: Mapping[str, tuple[float, float]]) -> str:
    """The scores as a small table (method, NDCG@10, HR@10)."""
    lines = [f"{'start':<34} NDCG@10   HR@10"]
    lines += [f"{name:<34} {n:7.4f} {h:7.4f}" for name, (n, h) in scores.items()]
    return "\n".join(lines)
