"""Online item-vector learning (models/online_item_factors.py)."""

from __future__ import annotations

import numpy as np
import pytest

from models.item_table import ItemTable
from models.online_item_factors import OnlineItemFactors, sample_negative
from models.short_term import unit

DIM = 8


def setup(l2: float = 0.0, seed: int = 1) -> tuple[ItemTable, OnlineItemFactors, np.ndarray]:
    table = ItemTable(dim=DIM, seed=seed)
    learner = OnlineItemFactors(table, learning_rate=0.5, l2=l2)
    user = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return table, learner, user


def score(table: ItemTable, item: str, user: np.ndarray) -> float:
    return float(table.vector(item) @ unit(user))


@pytest.mark.parametrize("l2", [0.0, 0.001])
@pytest.mark.parametrize("weight", [0.5, 1.0, 5.0])
def test_positive_event_raises_the_item_score(l2: float, weight: float) -> None:
    table, learner, user = setup(l2)
    before = score(table, "a", user)
    assert learner.learn(user, "a", weight=weight, negative=None) == ["a"]
    assert score(table, "a", user) > before


@pytest.mark.parametrize("weight", [-0.5, -1.0, -5.0])
def test_negative_event_lowers_the_item_score(weight: float) -> None:
    table, learner, user = setup()
    before = score(table, "a", user)
    learner.learn(user, "a", weight=weight, negative=None)
    assert score(table, "a", user) < before


def test_bigger_weight_moves_further() -> None:
    (t1, l1, user), (t2, l2, _) = setup(), setup()
    before = score(t1, "a", user)
    l1.learn(user, "a", weight=1.0, negative=None)
    l2.learn(user, "a", weight=3.0, negative=None)
    assert score(t2, "a", user) - before > score(t1, "a", user) - before > 0


def test_sampled_negative_score_drops() -> None:
    table, learner, user = setup()
    table.index_of("a")
    before = score(table, "b", user)
    assert learner.learn(user, "a", weight=1.0, negative="b") == ["a", "b"]
    assert score(table, "b", user) < before


def test_negative_equal_to_the_item_is_not_pushed_away() -> None:
    table, learner, user = setup()
    before = score(table, "a", user)
    assert learner.learn(user, "a", weight=1.0, negative="a") == ["a"]
    assert score(table, "a", user) > before


def test_only_the_touched_rows_change() -> None:
    table, learner, user = setup()
    for item in ("a", "b", "c"):
        table.index_of(item)
    untouched = table.vector("c").copy()
    learner.learn(user, "a", weight=1.0, negative="b")
    np.testing.assert_array_equal(table.vector("c"), untouched)


def test_unseen_items_are_added() -> None:
    table, learner, user = setup()
    learner.learn(user, "new", weight=1.0, negative="other")
    assert table.ids == ["new", "other"]


def test_learning_works_past_the_table_capacity() -> None:
    table = ItemTable(dim=DIM, seed=1, capacity=2)
    learner = OnlineItemFactors(table, learning_rate=0.5, l2=0.0)
    user = np.ones(DIM, np.float32)
    for n in range(10):
        learner.learn(user, f"i{n}", weight=1.0, negative=f"n{n}")
    assert len(table) == 20


def test_zero_user_vector_changes_nothing() -> None:
    table, learner, _ = setup()
    table.index_of("a")
    table.index_of("b")
    matrix = table.matrix.copy()
    assert learner.learn(np.zeros(DIM, np.float32), "a", weight=1.0, negative="b") == []
    np.testing.assert_array_equal(table.matrix, matrix)


def test_learn_does_not_mutate_the_user_vector() -> None:
    _, learner, user = setup()
    before = user.copy()
    learner.learn(user, "a", weight=1.0, negative="b")
    np.testing.assert_array_equal(user, before)


def test_step_size_depends_on_direction_not_user_norm() -> None:
    (t1, l1, user), (t2, l2, _) = setup(), setup()
    l1.learn(user, "a", weight=1.0, negative=None)
    l2.learn(user * 100, "a", weight=1.0, negative=None)
    np.testing.assert_allclose(t1.vector("a"), t2.vector("a"), rtol=1e-5)


def test_learning_is_deterministic() -> None:
    (t1, l1, user), (t2, l2, _) = setup(), setup()
    for table, learner in ((t1, l1), (t2, l2)):
        for n in range(20):
            learner.learn(user, f"i{n % 5}", weight=1.0, negative=sample_negative(table, n))
    np.testing.assert_array_equal(t1.matrix, t2.matrix)
    assert t1.ids == t2.ids


@pytest.mark.parametrize("size", [0, 1])
def test_sample_negative_needs_two_items(size: int) -> None:
    table = ItemTable(dim=2, seed=0)
    for n in range(size):
        table.index_of(f"i{n}")
    assert sample_negative(table, 123) is None


def test_sample_negative_is_deterministic_and_in_table() -> None:
    table = ItemTable(dim=2, seed=0)
    for n in range(10):
        table.index_of(f"i{n}")
    picks = [sample_negative(table, key) for key in range(100)]
    assert picks == [sample_negative(table, key) for key in range(100)]
    assert set(picks) <= set(table.ids)
    assert len(set(picks)) > 1


def test_sample_negative_spreads_over_a_power_of_two_table() -> None:
    table = ItemTable(dim=2, seed=0)
    for n in range(8):
        table.index_of(f"i{n}")
    assert {sample_negative(table, key) for key in range(8)} == set(table.ids)
