"""The trainer's refresh: a learnable first version is published, a bad one never is."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
import torch

from models.long_term import GRUConfig, GRURecommender, TrainConfig, TrainReport
from models.long_term.refresh import RefreshConfig, RefreshResult, Vocabulary, refresh

N_ITEMS = 20
CONFIG = RefreshConfig(
    dim=8,
    max_len=10,
    dropout=0.0,
    min_steps=30,
    patience=2,
    train=TrainConfig(epochs=6, batch_size=16, lr=1e-2, device="cpu"),
)


def cyclic_histories(users: int = 60, length: int = 10) -> dict[str, list[str]]:
    """Item i is always followed by item i+1: a pattern popularity cannot see."""
    rng = random.Random(0)
    starts = {f"u{u}": rng.randrange(N_ITEMS) for u in range(users)}
    return {u: [f"i{(s + j) % N_ITEMS}" for j in range(length)] for u, s in starts.items()}


def shuffled(sequences: dict[str, list[str]]) -> dict[str, list[str]]:
    """A broken training set: every item replaced by a random one."""
    rng = random.Random(1)
    items = sorted({i for s in sequences.values() for i in s})
    return {u: [rng.choice(items) for _ in s] for u, s in sequences.items()}


def _result(
    candidate: float, baseline: float, against: str, held_out: int, slack: float = 0.0
) -> RefreshResult:
    model = GRURecommender(GRUConfig(n_items=1, dim=2))
    report = TrainReport(0, 0.0, 0.0, 0, "cpu", 0.0)
    return RefreshResult(
        model,
        Vocabulary(),
        report,
        candidate,
        baseline,
        against,
        held_out,  # type: ignore[arg-type]
        gate_slack=slack,
    )


@pytest.fixture(scope="module")
def first() -> RefreshResult:
    return refresh(cyclic_histories(), None, CONFIG)


def test_a_learnable_first_version_clearly_beats_popularity_and_is_accepted(first):
    assert first.baseline == "popularity" and first.held_out_users > 0
    assert first.candidate_ndcg > first.baseline_ndcg + 0.2, first
    assert first.accepted


def test_a_candidate_trained_on_noise_is_rejected_against_the_current(first):
    current = (first.model, first.vocab)
    careless = replace(CONFIG, train=replace(CONFIG.train, lr=0.5))
    broken = refresh(cyclic_histories(), current, careless, train_transform=shuffled)
    assert broken.baseline == "current"
    assert not broken.accepted, broken


def test_a_first_version_that_only_ties_popularity_is_rejected():
    assert not _result(0.25, 0.25, "popularity", held_out=50).accepted
    assert _result(0.26, 0.25, "popularity", held_out=50).accepted


def test_a_later_version_that_ties_the_current_is_accepted():
    assert _result(0.25, 0.25, "current", held_out=50).accepted
    assert not _result(0.24, 0.25, "current", held_out=50).accepted


def test_the_gate_slack_lets_a_candidate_fall_short_of_its_bar_by_that_much():
    assert _result(0.21, 0.25, "popularity", held_out=50, slack=0.05).accepted
    assert not _result(0.19, 0.25, "popularity", held_out=50, slack=0.05).accepted
    assert _result(0.20, 0.25, "current", held_out=50, slack=0.05).accepted
    assert not _result(0.19, 0.25, "current", held_out=50, slack=0.05).accepted
    # ... and never lets through a candidate that nobody checked
    assert not _result(1.0, 0.0, "popularity", held_out=0, slack=1.0).accepted


def test_nothing_held_back_means_nothing_is_published():
    assert not _result(1.0, 0.0, "popularity", held_out=0).accepted
    short = refresh({f"u{u}": ["a", "b"] for u in range(5)}, None, CONFIG)
    assert short.held_out_users == 0 and not short.accepted


def test_the_harness_trains_exactly_as_the_trainer(first):
    """fit_as_trainer (the evaluation harness's refresh) and refresh (the trainer's) take the
    same steps on the same histories: same weights, and vectors read from whole histories."""
    from models.evaluation.catalog import Catalog
    from models.long_term.fit import read_long_term
    from models.long_term.refresh import fit_as_trainer

    histories = cyclic_histories()
    catalog = Catalog(first.vocab.ids)  # the trainer's vocabulary order
    harness = fit_as_trainer(histories, catalog, None, CONFIG)
    assert harness.best_epoch == first.best_epoch
    for name, weights in first.model.state_dict().items():
        assert torch.equal(weights, harness.model.state_dict()[name]), name
    whole = read_long_term(first.model, {u: first.vocab.encode(h) for u, h in histories.items()})
    for user, vector in whole.vectors.items():
        np.testing.assert_array_equal(harness.user_vectors[user], vector)


def test_a_refresh_raised_to_the_step_floor_validates_as_often_as_its_recipe_says():
    """60 users in batches of 16 take 4 steps an epoch: 6 epochs are raised to 8 for a floor of
    30 steps, validated every 2 (so a raised run may still stop early, at the recipe's pace)."""
    from models.long_term.refresh import training_plan

    plan = training_plan(cyclic_histories(), CONFIG)
    assert (plan.training.epochs, plan.validate_every, plan.patience) == (8, 2, CONFIG.patience)
    unraised = training_plan(cyclic_histories(), replace(CONFIG, min_steps=0))
    assert (unraised.training.epochs, unraised.validate_every) == (6, 1)
    assert len(plan.stop_users) + len(plan.gate_users) == 60 and plan.stop_users
