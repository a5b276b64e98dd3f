"""The trainer's refresh: a learnable first version is published, a bad one never is."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

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
