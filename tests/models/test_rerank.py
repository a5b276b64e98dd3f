"""Re-ranking math: known candidates by the user's blend, unknown ones after, in order."""

from __future__ import annotations

import numpy as np

from models.rerank import rerank

VECTORS = {
    "shoe": np.array([1.0, 0.0, 0.0], np.float32),
    "boot": np.array([0.9, 0.1, 0.0], np.float32),
    "hat": np.array([0.0, 1.0, 0.0], np.float32),
    "cap": np.array([0.1, 0.9, 0.0], np.float32),
}


def test_known_candidates_are_ordered_by_the_blend_and_explained() -> None:
    ranked = rerank(
        ["x", "hat", "shoe", "y", "boot"],
        VECTORS,
        short_term=np.array([0.0, 3.0, 0.0]),  # hats now
        long_term=np.array([1.0, 0.0, 0.0]),  # shoes in general
        long_term_weight=0.2,
        recent=["cap"],
    )
    assert [r.item_id for r in ranked] == ["hat", "boot", "shoe", "x", "y"]
    assert [r.input_rank for r in ranked] == [1, 4, 2, 0, 3]
    assert ranked[0].because == "cap"
    assert ranked[-1].score is None and ranked[-2].score is None
    scores = [r.score for r in ranked[:3]]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_the_long_term_weight_decides_between_the_two_interests() -> None:
    def top(weight: float) -> str:
        ranked = rerank(
            ["hat", "shoe"], VECTORS, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0, 0]), weight
        )
        return ranked[0].item_id

    assert (top(0.2), top(0.8)) == ("hat", "shoe")


def test_a_user_without_state_keeps_the_input_order_and_duplicates_go() -> None:
    ranked = rerank(["hat", "x", "shoe", "hat"], VECTORS, None, None, 0.5)
    assert [r.item_id for r in ranked] == ["hat", "x", "shoe"]
    assert [r.score for r in ranked] == [0.0, None, 0.0]
