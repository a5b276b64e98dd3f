"""The array forms of the batch math against the formulations they replaced.

Each test keeps the earlier (per-user or per-event) formulation as a reference
and checks the array code gives the same result: exactly where the operations
are the same, to float tolerance where only the summation order changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.batch_fold import _recent_after
from models.blend import unit_rows
from models.explain import COSINE_TABLE_SHARE, dots_of, nearest_recent
from models.fused_scoring import Moments
from models.interest_model import EventInput
from models.interest_shift import ShiftArrays, ShiftConfig, ShiftDetector, ShiftState
from models.item_table import ItemTable
from models.topk import top_k_of_scores

FAST = settings(max_examples=60, deadline=None)


def test_update_many_is_update_per_user() -> None:
    rng = np.random.default_rng(0)
    for config in (ShiftConfig(), ShiftConfig(warm_up=3, cooldown=2, threshold=1.0)):
        detector = ShiftDetector(config)
        states: list[ShiftState | None] = [
            None
            if i % 3 == 0
            else ShiftState(
                n=int(rng.integers(0, 30)),
                mean=float(rng.random()),
                var=float(rng.random() * 0.05),
                cusum=float(rng.random() * 5),
                streak=int(rng.integers(0, 4)),
                streak_shortfall=float(rng.random()),
                cooldown_left=int(rng.integers(0, 3)),
            )
            for i in range(40)
        ]
        columns = ShiftArrays.of(states)
        fired_total = 0
        for t in range(300):
            users = np.flatnonzero(rng.random(40) < 0.5)
            level = 0.8 if t < 120 else 0.1
            sims = np.clip(rng.normal(level, 0.1, users.size), -1.2, 1.2).astype(np.float32)
            fired = detector.update_many(columns, users, sims)
            expected = {}
            for u, x in zip(users.tolist(), sims.tolist(), strict=True):
                state, shift = detector.update(states[u] or ShiftState.new(), x)
                states[u] = state
                if shift is not None:
                    expected[u] = shift
            got = {u: fired.shift(i) for i, u in enumerate(fired.users.tolist())}
            assert got == expected
            fired_total += len(got)
            assert [columns.state(u) for u in range(40)] == states
        assert fired_total > 0


def test_update_many_refuses_a_non_finite_similarity() -> None:
    columns = ShiftArrays.of([None])
    with pytest.raises(ValueError, match="finite"):
        ShiftDetector().update_many(columns, np.array([0]), np.array([np.nan]))


def _recent_after_before(
    recent: tuple[str, ...], events: Sequence[EventInput], keep: int
) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for e in reversed(events):
        seen.setdefault(e.item_id, None)
    for item_id in recent:
        seen.setdefault(item_id, None)
    return tuple(seen)[:keep]


@FAST
@given(
    st.lists(st.integers(0, 12), max_size=10, unique=True),
    st.lists(st.integers(0, 12), max_size=6),
    st.integers(1, 12),
)
def test_recent_after_is_the_dict_formulation(recent: list[int], new: list[int], keep: int) -> None:
    before = tuple(f"i{i}" for i in recent)
    events = [EventInput(f"i{i}", "view", float(n), n) for n, i in enumerate(new)]
    assert _recent_after(before, events, keep) == _recent_after_before(before, events, keep)


def _top_k_before(
    scores: np.ndarray, k: int, exclude: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    scores = scores.copy()
    for u, rows in enumerate(exclude):
        scores[u, list(rows)] = -np.inf
    k_eff = min(k, scores.shape[1])
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    return np.where(np.isneginf(best_scores), -1, best), best_scores.astype(np.float32)


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.sampled_from([0, 3, 40]))
def test_top_k_rows_are_the_index_partition(seed: int, k: int, levels: int) -> None:
    """Distinct, tied (``levels`` values) and excluded (-inf) scores alike."""
    rng = np.random.default_rng(seed)
    users, items = 30, 25
    if levels:
        scores = rng.integers(0, levels, (users, items)).astype(np.float32)
    else:
        scores = rng.standard_normal((users, items)).astype(np.float32)
    exclude = [
        rng.choice(items, int(rng.integers(0, items + 1)), replace=False) for _ in range(users)
    ]
    padded = np.full((users, items), -1, np.intp)
    for u, rows in enumerate(exclude):
        padded[u, : len(rows)] = rows
    best, got = top_k_of_scores(scores.copy(), k, padded)
    ref_best, ref = _top_k_before(scores, k, exclude)
    np.testing.assert_array_equal(got, ref)
    distinct = levels == 0  # with ties, any of the tied rows is as good
    if distinct:
        np.testing.assert_array_equal(best, ref_best)
    picked = np.take_along_axis(scores, np.where(best >= 0, best, 0), axis=1)
    np.testing.assert_array_equal(np.where(best >= 0, picked, -np.inf), ref)
    for u, rows in enumerate(exclude):
        assert not set(best[u].tolist()) & set(rows.tolist())


def test_everyones_exclusions_are_each_users() -> None:
    scores = np.random.default_rng(1).standard_normal((4, 9)).astype(np.float32)
    best, _ = top_k_of_scores(scores.copy(), 3, np.full((4, 0), -1), exclude_all=[2, 5])
    ref, _ = _top_k_before(scores, 3, [[2, 5]] * 4)
    np.testing.assert_array_equal(best, ref)


def _nearest_before(items: np.ndarray, best: np.ndarray, recent: list[list[int]]) -> np.ndarray:
    users, k = best.shape
    valid = best >= 0
    chosen = items[np.where(valid, best, 0)]
    depth = max(len(r) for r in recent)
    padded = np.full((users, depth), -1, np.intp)
    for u, rows in enumerate(recent):
        padded[u, : len(rows)] = rows
    has = padded >= 0
    recent_unit, _ = unit_rows(items[np.where(has, padded, 0)].reshape(users * depth, -1))
    chosen_unit, _ = unit_rows(chosen.reshape(users * k, -1))
    similarity = np.matmul(
        chosen_unit.reshape(users, k, -1), recent_unit.reshape(users, depth, -1).transpose(0, 2, 1)
    )
    similarity = np.where(has[:, None, :], similarity, -np.inf)
    found = valid & (padded[:, :1] >= 0)
    picked = np.take_along_axis(padded, np.argmax(similarity, axis=2), axis=1)
    out: np.ndarray = np.where(found, picked, -1)
    return out


@FAST
@given(st.integers(0, 2**32 - 1), st.sampled_from([6, 200]))
def test_nearest_recent_is_the_per_user_product(seed: int, n_items: int) -> None:
    """A small catalogue goes through the item-pair table, a large one per user."""
    rng = np.random.default_rng(seed)
    users, k, dim = 5, 3, 8
    items = rng.standard_normal((n_items, dim)).astype(np.float32)
    items[0] = 0.0  # a zero row has no direction
    best = rng.integers(-1, n_items, (users, k))
    recent = [
        rng.choice(n_items, int(rng.integers(0, 5)), replace=False).tolist() for _ in range(users)
    ]
    recent[0] = [1, 2]
    assert (n_items**2 <= COSINE_TABLE_SHARE * users * k * 4) == (n_items == 6)
    np.testing.assert_array_equal(
        nearest_recent(items, best, recent), _nearest_before(items, best, recent)
    )


@pytest.mark.parametrize("n_items", [5, 500])
def test_dots_of_are_the_gathered_products(n_items: int) -> None:
    rng = np.random.default_rng(n_items)
    vectors = rng.standard_normal((7, 4)).astype(np.float32)
    matrix = rng.standard_normal((n_items, 4)).astype(np.float32)
    rows = rng.integers(0, n_items, (7, 3))
    dots, gathered = dots_of(rows, vectors, matrix)
    assert (gathered is None) == (n_items <= 3 * 4)
    expected = np.einsum("ukd,ud->uk", matrix[rows], vectors)
    np.testing.assert_allclose(dots, expected, rtol=1e-5, atol=1e-5)


def test_moment_stats_are_the_three_operand_einsum() -> None:
    rng = np.random.default_rng(3)
    moments = Moments.of(rng.standard_normal((50, 6)))
    vectors = rng.standard_normal((9, 6))
    _, sd = moments.stats(vectors)
    var = np.einsum("ud,de,ue->u", vectors, moments.cov, vectors)
    np.testing.assert_allclose(sd, np.sqrt(np.maximum(var, 0.0)), rtol=1e-12)


def test_indices_of_is_index_of_in_order_even_when_recycling() -> None:
    ids = ["x", "y", "a", "b", "a", "c", "x", "d", "b", "e", "a", "f"]
    one, many = ItemTable(2, 0, max_items=3), ItemTable(2, 0, max_items=3)
    for table in (one, many):
        for item_id in ["x", "y", "z"]:
            table.index_of(item_id)
        table.begin_batch()
    expected = [one.index_of(i) for i in ids]
    assert many.indices_of(ids).tolist() == expected
    assert many.ids == one.ids
    np.testing.assert_array_equal(many.matrix, one.matrix)


def test_rows_padded_are_rows_of_each_list() -> None:
    table = ItemTable(2, 0)
    for item_id in "abcdef":
        table.index_of(item_id)
    lists = [("a", "zz", "c", "d"), (), ("yy",), ("f", "e")]
    padded = table.rows_padded(lists, 3)
    for row, ids in zip(padded.tolist(), lists, strict=True):
        known = table.rows_of(ids[:3])
        assert row == known + [-1] * (3 - len(known))
