"""Top-K retrieval by dot product (models/topk.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from models.topk import top_k

FAST = settings(max_examples=150, deadline=None)


def brute_force(
    users: np.ndarray, items: np.ndarray, k: int, exclude: Sequence[Sequence[int]] = ()
) -> tuple[np.ndarray, np.ndarray]:
    scores = (users @ items.T).astype(np.float32)
    idx = np.full((users.shape[0], k), -1, dtype=np.intp)
    best = np.full((users.shape[0], k), -np.inf, dtype=np.float32)
    for u in range(users.shape[0]):
        banned = set(exclude[u]) if u < len(exclude) else set()
        ranked = [int(i) for i in np.argsort(-scores[u], kind="stable") if int(i) not in banned]
        for slot, item in enumerate(ranked[:k]):
            idx[u, slot] = item
            best[u, slot] = scores[u, item]
    return idx, best


def random_case(seed: int, n_users: int, n_items: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = rng.standard_normal((n_users, dim)).astype(np.float32)
    items = rng.standard_normal((n_items, dim)).astype(np.float32)
    return users, items


def distinct_rows(users: np.ndarray, items: np.ndarray) -> bool:
    scores = users @ items.T
    return all(len(np.unique(row)) == row.shape[0] for row in scores)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 6),
    n_items=st.integers(1, 60),
    dim=st.integers(1, 8),
    k=st.integers(1, 70),
)
def test_matches_brute_force_sort(seed: int, n_users: int, n_items: int, dim: int, k: int) -> None:
    users, items = random_case(seed, n_users, n_items, dim)
    assume(distinct_rows(users, items))
    idx, scores = top_k(users, items, k)
    want_idx, want_scores = brute_force(users, items, k)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(scores, want_scores)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 5),
    n_items=st.integers(1, 40),
    k=st.integers(1, 45),
    data=st.data(),
)
def test_matches_brute_force_with_exclusions(
    seed: int, n_users: int, n_items: int, k: int, data: st.DataObject
) -> None:
    users, items = random_case(seed, n_users, n_items, 4)
    assume(distinct_rows(users, items))
    exclude = [
        data.draw(st.lists(st.integers(0, n_items - 1), max_size=n_items)) for _ in range(n_users)
    ]
    idx, scores = top_k(users, items, k, exclude)
    want_idx, want_scores = brute_force(users, items, k, exclude)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(scores, want_scores)
    for row, banned in zip(idx, exclude, strict=True):
        assert not set(row.tolist()) & set(banned)


@pytest.mark.parametrize("seed", range(5))
def test_scores_are_descending_and_match_dot_products(seed: int) -> None:
    users, items = random_case(seed, 4, 200, 16)
    idx, scores = top_k(users, items, 10)
    assert np.all(np.diff(scores, axis=1) <= 0)
    np.testing.assert_allclose(scores, np.take_along_axis(users @ items.T, idx, axis=1))


def test_excluded_rows_never_appear() -> None:
    users, items = random_case(0, 2, 10, 3)
    exclude = [[0, 1, 2, 3, 4], [9, 8, 7]]
    idx, _ = top_k(users, items, 10, exclude)
    assert set(idx[0].tolist()) == {5, 6, 7, 8, 9, -1}
    assert set(idx[1].tolist()) == set(range(7)) | {-1}


def test_k_above_item_count_pads_with_minus_one_and_minus_inf() -> None:
    users, items = random_case(1, 2, 3, 4)
    idx, scores = top_k(users, items, 5)
    assert idx.shape == scores.shape == (2, 5)
    assert (idx[:, 3:] == -1).all()
    assert np.isneginf(scores[:, 3:]).all()
    assert sorted(idx[0, :3].tolist()) == [0, 1, 2]
    assert np.isfinite(scores[:, :3]).all()


def test_fully_excluded_user_gets_only_padding() -> None:
    users, items = random_case(2, 2, 3, 4)
    idx, scores = top_k(users, items, 2, exclude=[[0, 1, 2], []])
    assert idx[0].tolist() == [-1, -1]
    assert np.isneginf(scores[0]).all()
    assert (idx[1] >= 0).all()


def test_empty_item_matrix_gives_only_padding() -> None:
    users = np.ones((3, 4), np.float32)
    idx, scores = top_k(users, np.zeros((0, 4), np.float32), 5)
    assert idx.shape == scores.shape == (3, 5)
    assert (idx == -1).all()
    assert np.isneginf(scores).all()
    assert scores.dtype == np.float32


def test_k_zero_gives_empty_rows() -> None:
    users, items = random_case(3, 2, 5, 3)
    idx, scores = top_k(users, items, 0)
    assert idx.shape == scores.shape == (2, 0)


def test_single_user_vector_is_accepted() -> None:
    users, items = random_case(4, 1, 20, 5)
    idx, scores = top_k(users[0], items, 3)
    want_idx, _ = top_k(users, items, 3)
    assert idx.shape == scores.shape == (1, 3)
    np.testing.assert_array_equal(idx, want_idx)


def test_exclude_may_cover_only_the_first_users() -> None:
    users, items = random_case(5, 3, 6, 2)
    idx, _ = top_k(users, items, 6, exclude=[[0]])
    assert 0 not in idx[0].tolist()
    assert 0 in idx[1].tolist()
    assert 0 in idx[2].tolist()


def test_duplicate_exclusions_are_harmless() -> None:
    users, items = random_case(6, 1, 4, 2)
    idx, _ = top_k(users, items, 4, exclude=[[1, 1, 1]])
    assert sorted(idx[0].tolist()) == [-1, 0, 2, 3]


def test_inputs_are_not_mutated() -> None:
    users, items = random_case(7, 2, 8, 3)
    users_before, items_before = users.copy(), items.copy()
    top_k(users, items, 3, exclude=[[0, 1], [2]])
    np.testing.assert_array_equal(users, users_before)
    np.testing.assert_array_equal(items, items_before)


def test_output_dtypes() -> None:
    users, items = random_case(8, 2, 8, 3)
    idx, scores = top_k(users.astype(np.float64), items, 3)
    assert np.issubdtype(idx.dtype, np.integer)
    assert scores.dtype == np.float32


def test_known_example() -> None:
    users = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    items = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], np.float32)
    idx, scores = top_k(users, items, k=3)
    assert idx.tolist() == [[0, 1, 2], [2, 1, 0]]
    assert scores.tolist() == [[1.0, 0.5, 0.0], [1.0, 0.5, 0.0]]
