"""Short-term interest (models/short_term.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from models.blend import MixWeightLearner
from models.interest_model import EventInput, InterestConfig, InterestModel, UserInterest
from models.item_table import ItemTable
from models.short_term import SURPRISE_KEEP, ShortTermInterest, UserVector, unit

FAST = settings(max_examples=100, deadline=None)
HALF_LIFE = 100.0
E0 = np.array([1.0, 0.0, 0.0], np.float32)
E1 = np.array([0.0, 1.0, 0.0], np.float32)
finite = st.floats(-1e3, 1e3, width=32)


def learner() -> ShortTermInterest:
    return ShortTermInterest(half_life_s=HALF_LIFE)


def started(vector: np.ndarray = E0, ts: float = 1000.0) -> UserVector:
    return learner().update(UserVector.empty(vector.shape[0]), vector, weight=1.0, ts=ts)


def test_empty_user_is_zero_without_time() -> None:
    user = UserVector.empty(4)
    assert user.vector.tolist() == [0.0] * 4
    assert user.vector.dtype == np.float32
    assert user.ts is None


def test_first_event_sets_vector_and_time() -> None:
    user = learner().update(UserVector.empty(3), E0, weight=2.0, ts=5.0)
    assert user.vector.tolist() == [2.0, 0.0, 0.0]
    assert user.ts == 5.0


@pytest.mark.parametrize(
    ("elapsed", "survives"),
    [(0.0, 1.0), (100.0, 0.5), (200.0, 0.25), (300.0, 0.125), (50.0, 2**-0.5)],
)
def test_decay_follows_the_half_life(elapsed: float, survives: float) -> None:
    assert learner().decay(1000.0, 1000.0 + elapsed) == pytest.approx(survives, rel=1e-12)


def test_one_half_life_halves_the_old_vector() -> None:
    user = learner().update(started(), E1, weight=1.0, ts=1000.0 + HALF_LIFE)
    assert user.vector.tolist() == [0.5, 1.0, 0.0]
    assert user.ts == 1000.0 + HALF_LIFE


def test_two_half_lives_quarter_the_old_vector() -> None:
    user = learner().update(started(), E1, weight=1.0, ts=1000.0 + 2 * HALF_LIFE)
    assert user.vector.tolist() == [0.25, 1.0, 0.0]


def test_decay_is_the_same_in_one_step_or_two() -> None:
    model = learner()
    direct = model.update(started(), E1, weight=1.0, ts=1200.0)
    halfway = model.update(started(), E1, weight=0.0, ts=1100.0)
    stepped = model.update(halfway, E1, weight=1.0, ts=1200.0)
    np.testing.assert_allclose(direct.vector, stepped.vector, rtol=1e-6)


def test_first_event_ignores_any_stale_vector_without_time() -> None:
    stale = UserVector(np.array([9.0, 9.0, 9.0], np.float32), None)
    assert learner().decay(None, 10.0) == 0.0
    assert learner().update(stale, E0, weight=1.0, ts=10.0).vector.tolist() == [1.0, 0.0, 0.0]


def test_out_of_order_event_does_not_decay() -> None:
    user = learner().update(started(ts=1000.0), E1, weight=1.0, ts=500.0)
    assert user.vector.tolist() == [1.0, 1.0, 0.0]


def test_out_of_order_event_does_not_move_time_backwards() -> None:
    user = learner().update(started(ts=1000.0), E1, weight=1.0, ts=500.0)
    assert user.ts == 1000.0


def test_same_time_event_does_not_decay() -> None:
    user = learner().update(started(ts=1000.0), E0, weight=1.0, ts=1000.0)
    assert user.vector.tolist() == [2.0, 0.0, 0.0]


def test_negative_weight_subtracts() -> None:
    user = learner().update(started(), E0, weight=-1.0, ts=1000.0)
    assert user.vector.tolist() == [0.0, 0.0, 0.0]
    user = learner().update(started(), E1, weight=-2.0, ts=1000.0)
    assert user.vector.tolist() == [1.0, -2.0, 0.0]


def test_update_does_not_mutate_the_user_or_the_item() -> None:
    user = started()
    vector_before, item_before = user.vector.copy(), E1.copy()
    updated = learner().update(user, E1, weight=3.0, ts=2000.0)
    np.testing.assert_array_equal(user.vector, vector_before)
    np.testing.assert_array_equal(E1, item_before)
    assert user.ts == 1000.0
    assert updated.vector is not user.vector
    assert not np.shares_memory(updated.vector, E1)


@FAST
@given(
    vector=hnp.arrays(np.float32, 5, elements=finite),
    item=hnp.arrays(np.float32, 5, elements=finite),
    weight=st.floats(-10, 10),
    ts=st.floats(0, 1e6),
    dt=st.floats(-1e4, 1e4),
)
def test_update_never_mutates_inputs(
    vector: np.ndarray, item: np.ndarray, weight: float, ts: float, dt: float
) -> None:
    user = UserVector(vector.copy(), ts)
    item_copy = item.copy()
    updated = learner().update(user, item, weight=weight, ts=ts + dt)
    np.testing.assert_array_equal(user.vector, vector)
    np.testing.assert_array_equal(item, item_copy)
    assert user.ts == ts
    assert updated.ts == max(ts, ts + dt)
    assert updated.vector.dtype == np.float32


def test_float64_item_gives_float32_vector() -> None:
    user = learner().update(started(), E1.astype(np.float64), weight=1.0, ts=1000.0)
    assert user.vector.dtype == np.float32


def test_decayed_view_of_a_user() -> None:
    user = started()
    assert learner().decayed(user, 1000.0 + HALF_LIFE).tolist() == [0.5, 0.0, 0.0]
    assert learner().decayed(user, 900.0).tolist() == [1.0, 0.0, 0.0]
    assert user.vector.tolist() == [1.0, 0.0, 0.0]


def test_mean_decay_tracks_factors() -> None:
    model = learner()
    user = model.update(UserVector.empty(3), E0, weight=1.0, ts=0.0)
    model.update(user, E0, weight=1.0, ts=HALF_LIFE)
    assert model.mean_decay.get() == pytest.approx(0.25)


@pytest.mark.parametrize("half_life", [0.0, -1.0, float("nan")])
def test_non_positive_half_life_is_refused(half_life: float) -> None:
    with pytest.raises(ValueError, match="half_life"):
        ShortTermInterest(half_life_s=half_life)


def test_unit_scales_to_length_one() -> None:
    assert unit(np.array([3.0, 4.0])).tolist() == [0.6, 0.8]
    assert float(np.linalg.norm(unit(np.array([1.0, 2.0, 3.0], np.float32)))) == pytest.approx(1)


def test_unit_of_zero_is_zero() -> None:
    out = unit(np.zeros(4, np.float32))
    assert out.tolist() == [0.0] * 4
    assert np.isfinite(out).all()


def test_unit_does_not_mutate_its_input() -> None:
    vector = np.array([3.0, 4.0], np.float32)
    unit(vector)
    assert vector.tolist() == [3.0, 4.0]


def test_a_surprising_item_keeps_only_part_of_the_short_term_context() -> None:
    # The fold's update: an item far from the decayed context (cosine below
    # SURPRISE_COSINE) keeps SURPRISE_KEEP of it; a near one keeps all of it.
    items = ItemTable(dim=2, seed=0)
    items.load({"a": np.array([1.0, 0.0]), "a2": np.array([0.9, 0.1]), "b": np.array([0.0, 1.0])})
    weights = {"view": 1.0, "skip": -1.0}
    config = InterestConfig(half_life_s=1e9, learn_items=False, event_weights=weights)
    model = InterestModel(items, config)
    user, _ = model.apply(UserInterest.new(2), "a", "view", ts=0.0, sample_key=1)
    near, _ = model.apply(user, "a2", "view", ts=0.0, sample_key=2)
    far, _ = model.apply(user, "b", "view", ts=0.0, sample_key=3)
    assert near.short_term.vector.tolist() == pytest.approx([1.9, 0.1])
    assert far.short_term.vector.tolist() == pytest.approx([SURPRISE_KEEP, 1.0])
    skipped, _ = model.apply(user, "b", "skip", ts=0.0, sample_key=4)  # not a choice: kept
    assert skipped.short_term.vector.tolist() == pytest.approx([1.0, -1.0])


def test_a_far_item_on_another_surface_keeps_the_whole_context() -> None:
    # A change of surface (home, then search) explains a change of kind: no surprise.
    items = ItemTable(dim=2, seed=0)
    items.load({"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])})
    config = InterestConfig(half_life_s=1e9, learn_items=False)
    model = InterestModel(items, config, MixWeightLearner(surfaces=2))
    user, _ = model.apply(UserInterest.new(2), "a", "view", ts=0.0, sample_key=1)
    other = model.fold([user], [[EventInput("b", "view", 0.0, 2, surface=1)]]).users[0]
    same = model.fold([user], [[EventInput("b", "view", 0.0, 2, surface=0)]]).users[0]
    assert other.short_term.vector.tolist() == pytest.approx([1.0, 1.0])
    assert same.short_term.vector.tolist() == pytest.approx([SURPRISE_KEEP, 1.0])
