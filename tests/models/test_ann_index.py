"""The HNSW top-K answers like brute force: recall, exclusions, rows added or moved since."""

from __future__ import annotations

import numpy as np
import pytest

from models.ann_index import HnswParams, HnswTopK, build_top_k
from models.topk import top_k

DIM = 16
PARAMS = HnswParams(m=16, ef_construction=100, ef_search=64)


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Items around 50 centres, with varied norms (inner product is not cosine)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIM))
    rows = centres[rng.integers(0, 50, n)] + 0.4 * rng.standard_normal((n, DIM))
    return (rows * (0.5 + rng.random((n, 1)))).astype(np.float32)


def queries(items: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = items[rng.integers(0, len(items), (n, 4))].mean(axis=1)
    return (picked + 0.1 * rng.standard_normal(picked.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def items() -> np.ndarray:
    return clustered(4000)


@pytest.fixture(scope="module")
def index(items: np.ndarray) -> HnswTopK:
    return HnswTopK(items, PARAMS)


def test_recall_at_20_against_exact_top_20(items: np.ndarray, index: HnswTopK) -> None:
    users = queries(items, 200)
    exact, _ = top_k(users, items, 20)
    approx, _ = index.top_k(users, items, 20)
    recall = np.mean([len(set(a) & set(e)) / 20 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.95


def test_scores_are_exact_dot_products_best_first(items: np.ndarray, index: HnswTopK) -> None:
    users = queries(items, 20)
    idx, scores = index.top_k(users, items, 10)
    want = np.einsum("ud,ukd->uk", users, items[idx])
    np.testing.assert_allclose(scores, want, rtol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_excluded_items_never_come_back_and_k_are_still_returned(
    items: np.ndarray, index: HnswTopK
) -> None:
    users = queries(items, 10)
    exact, _ = top_k(users, items, 30)
    exclude = [list(row[:25]) for row in exact.tolist()]  # the 25 best of each user
    idx, scores = index.top_k(users, items, 20, exclude)
    for row, banned in zip(idx.tolist(), exclude, strict=True):
        assert not set(row) & set(banned)
        assert len(set(row)) == 20 and min(row) >= 0
    assert np.isfinite(scores).all()


def test_rows_added_or_moved_since_the_build_score_as_they_are_now(items: np.ndarray) -> None:
    index = HnswTopK(items, PARAMS)
    user = queries(items, 1)
    grown = np.vstack([items, 10 * user]).astype(np.float32)  # a new item, best for the user
    idx, _ = index.top_k(user, grown, 5)
    assert idx[0, 0] == len(items)
    moved = items.copy()
    best = int(idx[0, 1])
    moved[best] = -moved[best]  # the learner flipped it since the build
    idx, scores = index.top_k(user, moved, 5)
    assert best not in idx[0].tolist()
    np.testing.assert_allclose(scores[0], moved[idx[0]] @ user[0], rtol=1e-5)


def test_fewer_candidates_than_k_are_padded() -> None:
    small = clustered(8)
    index = HnswTopK(small, PARAMS)
    idx, scores = index.top_k(queries(small, 2), small, 12, exclude=[[0, 1], []])
    assert idx.shape == (2, 12)
    assert sorted(idx[0][idx[0] >= 0].tolist()) == list(range(2, 8))
    assert (idx[1] >= 0).sum() == 8 and np.isneginf(scores[1, 8:]).all()


def test_brute_force_below_the_threshold(items: np.ndarray) -> None:
    assert build_top_k(items, len(items), PARAMS) is None
    assert isinstance(build_top_k(items, len(items) - 1, PARAMS), HnswTopK)
