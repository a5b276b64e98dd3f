"""Personalised re-ranking of a candidate list (search results, a category page).

The candidates are scored by the user's blended direction (the same
``w·unit(long) + (1−w)·unit(short)`` the worker ranks with) against their item
vectors. Candidates the model has no vector for keep their input order after
the known ones: re-ranking may reorder what it understands, never drop or
invent. Each known candidate is explained by the user's recent item closest
to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.blend import blend, unit_rows


@dataclass(frozen=True, slots=True)
class Ranked:
    """One candidate in its new place; ``score`` is None for an item the model does not know."""

    item_id: str
    score: float | None
    because: str | None  # the recent item of the user most like this one
    input_rank: int

    def to_json(self) -> dict[str, object]:
        return {
            "item_id": self.item_id,
            "score": self.score,
            "because": self.because,
            "input_rank": self.input_rank,
        }


def rerank(
    candidates: Sequence[str],
    vectors: Mapping[str, np.ndarray],
    short_term: np.ndarray | None,
    long_term: np.ndarray | None,
    long_term_weight: float,
    recent: Sequence[str] = (),
) -> list[Ranked]:
    """``candidates`` best first for the user; unknown ones after, in input order.

    A candidate listed twice keeps its first place only.

    >>> v = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}
    >>> [r.item_id for r in rerank(["x", "a", "b"], v, np.array([0.0, 2.0]), None, 0.5)]
    ['b', 'a', 'x']
    """
    unique = list(dict.fromkeys(candidates))
    rank_of = {item: n for n, item in enumerate(unique)}
    known = [i for i in unique if i in vectors]
    unknown = [Ranked(i, None, None, rank_of[i]) for i in unique if i not in vectors]
    direction = blend(long_term, short_term, long_term_weight)
    if not known or direction.size == 0 or not direction.any():
        return [Ranked(i, None if i not in vectors else 0.0, None, rank_of[i]) for i in unique]
    matrix = np.stack([vectors[i] for i in known]).astype(np.float32)
    scores = matrix @ direction.astype(np.float32)
    order = np.argsort(-scores, kind="stable").tolist()  # ties keep the input order
    reasons = _closest_recent(matrix, [r for r in recent if r in vectors], vectors)
    rounded = np.round(scores.astype(np.float64), 6).tolist()
    ranked = [Ranked(known[n], rounded[n], reasons[n], rank_of[known[n]]) for n in order]
    return ranked + unknown


def _closest_recent(
    matrix: np.ndarray, recent: list[str], vectors: Mapping[str, np.ndarray]
) -> list[str | None]:
    if not recent:
        return [None] * len(matrix)
    mine, _ = unit_rows(np.stack([vectors[i] for i in recent]).astype(np.float32))
    theirs, _ = unit_rows(matrix)
    best = np.argmax(theirs @ mine.T, axis=1)
    return [recent[b] for b in best.tolist()]
