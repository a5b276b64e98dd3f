"""Explanations: score shares that add up to the blended score, and the nearest recent item."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.blend import blend_rows
from models.explain import InterestParts, effective_weights, explain


def _parts(rng: np.random.Generator, users: int, dim: int) -> InterestParts:
    long = rng.normal(size=(users, dim)).astype(np.float32)
    short = rng.normal(size=(users, dim)).astype(np.float32)
    long[0] = 0.0  # a user with no long-term vector yet
    weights = rng.uniform(0.05, 0.95, users)
    return InterestParts(long, short, effective_weights(long, short, weights))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_parts_add_up_to_the_blended_score(seed: int) -> None:
    rng = np.random.default_rng(seed)
    parts = _parts(rng, users=4, dim=6)
    items = rng.normal(size=(12, 6)).astype(np.float32)
    best = np.stack([rng.choice(12, 3, replace=False) for _ in range(4)])
    why = explain(parts, items, best, [[] for _ in range(4)])
    assert ((why.long_share >= 0) & (why.long_share <= 1)).all()
    assert (why.long_share[0] == 0).all()  # nothing came from a side the user lacks
    mixed = blend_rows(parts.long_term, parts.short_term, parts.weights)
    scores = np.einsum("ukd,ud->uk", items[best], mixed)
    lt = parts.long_term / np.maximum(np.linalg.norm(parts.long_term, axis=1), 1e-12)[:, None]
    long_part = parts.weights[:, None] * np.einsum("ukd,ud->uk", items[best], lt)
    # Where both parts pushed the item up, the share is exactly the long part's fraction.
    both = (long_part > 1e-4) & (scores - long_part > 1e-4)
    np.testing.assert_allclose(why.long_share[both], (long_part / scores)[both], rtol=1e-3)


def test_the_nearest_recent_item_is_the_most_similar_one() -> None:
    items = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.9, 0.1, 0], [0.1, 0, 0.9]], np.float32)
    parts = InterestParts(np.zeros((2, 3)), np.ones((2, 3)), np.zeros(2))
    best = np.array([[3, 4, -1], [3, 4, 0]])
    why = explain(parts, items, best, [[2, 0], []])
    assert why.nearest.tolist() == [[0, 2, -1], [-1, -1, -1]]
    assert why.long_share[0, 2] == 0.0  # padding explains nothing
