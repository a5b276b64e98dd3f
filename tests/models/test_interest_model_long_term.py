"""The worker's long-term path: the GRU state steps per chosen item; the refresh's vector stays."""

from __future__ import annotations

import numpy as np

from models.blend import cosine
from models.gru_step import GRUStepper
from models.interest_model import InterestConfig, InterestModel, UserInterest
from models.item_table import ItemTable
from models.long_term import GRUConfig, GRURecommender

WEIGHTS = {"view": 1.0, "skip": -1.0}


def _model() -> tuple[InterestModel, GRUStepper]:
    stepper = GRUStepper.from_model(GRURecommender(GRUConfig(n_items=5, dim=8, seed=1)).eval())
    items = ItemTable(dim=8, seed=0)
    for name in "abcde":
        items.index_of(name)
    config = InterestConfig(learn_items=False, event_weights=WEIGHTS)
    return InterestModel(items, config, stepper=stepper), stepper


def test_a_chosen_item_steps_the_state_and_scoring_reads_it_out() -> None:
    model, stepper = _model()
    anchor = np.ones(8, np.float32)
    user = UserInterest.new(8)
    user = UserInterest(user.short_term, long_term=anchor)
    after, _ = model.apply(user, "a", "view", ts=1.0, sample_key=0)
    expected_state = stepper.step(stepper.initial(), model.items.vector("a"))
    assert after.long_term_state is not None
    np.testing.assert_allclose(after.long_term_state, expected_state, atol=1e-6)
    np.testing.assert_array_equal(after.long_term, anchor)  # the refresh's vector stays
    now = model.long_term_now(after)
    assert now is not None
    np.testing.assert_allclose(now, stepper.output(expected_state), atol=1e-6)
    # The blend leans on the stepped vector, not on the anchor.
    assert cosine(model.scoring_vector(after), now) > cosine(model.scoring_vector(after), anchor)


def test_a_skip_does_not_step() -> None:
    model, _ = _model()
    user, _ = model.apply(UserInterest.new(8), "a", "view", ts=1.0, sample_key=0)
    skipped, _ = model.apply(user, "b", "skip", ts=2.0, sample_key=1)
    assert skipped.long_term_state is not None and user.long_term_state is not None
    np.testing.assert_array_equal(skipped.long_term_state, user.long_term_state)


def test_restart_steps_through_recent_items_oldest_first() -> None:
    model, stepper = _model()
    user = UserInterest(UserInterest.new(8).short_term, recent=("c", "b", "unknown", "a"))
    restarted = model.restart_long_term(user)
    expected = stepper.run(np.stack([model.items.vector(i) for i in ("a", "b", "c")]))
    assert restarted.long_term_state is not None
    np.testing.assert_allclose(restarted.long_term_state, expected, atol=1e-6)
    assert model.restart_long_term(UserInterest.new(8)).long_term_state is None
