"""Prequential replay: scores come from models that have not seen the event; runs repeat."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from models.evaluation import EvalConfig, LongTermConfig, StreamEvent, run_prequential
from models.evaluation.config import MFConfig
from models.evaluation.ranking import MISS
from models.interest_model import InterestConfig
from models.long_term import TrainConfig

TINY = EvalConfig(
    long_term=LongTermConfig(dim=8, max_len=10, dropout=0.0),
    training=TrainConfig(epochs=1, batch_size=16, device="cpu"),
    interest=InterestConfig(half_life_s=60.0, event_weights={"view": 1.0, "skip": -1.0}),
    mf=MFConfig(factors=4, negatives=2),
    refresh_every=100,
)


def stream(n: int, seed: int, users: int = 8, items: int = 30) -> list[StreamEvent]:
    rng = random.Random(seed)
    return [
        StreamEvent(f"u{rng.randrange(users)}", f"i{rng.randrange(items)}", "view", float(t))
        for t in range(n)
    ]


def test_an_item_first_seen_as_the_target_is_a_miss_for_every_variant():
    events = stream(300, seed=1)
    planted = [100, 150, 299]  # 100 is also a refresh point: the refresh must not know it
    for position in planted:
        events[position] = replace(events[position], item_id=f"new-{position}")
    seen_by_refresh: list[set[str]] = []
    run = run_prequential(
        events, TINY, on_refresh=lambda at, r: seen_by_refresh.append(set(r.item_ids))
    )
    assert len(run.refreshes) == 2
    assert "new-100" not in seen_by_refresh[0] and "new-100" in seen_by_refresh[1]
    for position in planted:
        scored = int(np.flatnonzero(run.positions == position)[0])
        for name, ranks in run.ranks.items():
            assert ranks[scored] == MISS, (name, position)


def test_future_events_never_change_past_scores():
    events = stream(260, seed=2)
    other_future = events[:200] + stream(60, seed=3)
    first, second = run_prequential(events, TINY), run_prequential(other_future, TINY)
    for name in first.ranks:
        np.testing.assert_array_equal(first.ranks[name][:200], second.ranks[name][:200])
        assert first.ranks[name][200:].tolist() != second.ranks[name][200:].tolist() or (
            name == "long_term"
        )


def test_long_term_is_a_miss_before_the_first_refresh():
    run = run_prequential(stream(150, seed=4), TINY)
    assert (run.ranks["long_term"][:100] == MISS).all()
    assert (run.ranks["long_term"][100:] != MISS).any()


def test_blend_equals_short_term_until_the_first_refresh():
    run = run_prequential(stream(150, seed=5), TINY)
    np.testing.assert_array_equal(run.ranks["blend"][:100], run.ranks["short_term"][:100])


def test_skips_are_applied_but_not_scored():
    events = stream(50, seed=6)
    events[10] = replace(events[10], event_type="skip")
    run = run_prequential(events, TINY)
    assert 10 not in run.positions.tolist() and run.positions.size == 49


@pytest.mark.parametrize("mode", ["refresh", "event"])
def test_two_runs_with_one_seed_are_equal(mode):
    config = replace(TINY, long_term_mode=mode).seeded(3)
    events = stream(250, seed=7)
    first, second = run_prequential(events, config), run_prequential(events, config)
    for name in first.ranks:
        np.testing.assert_array_equal(first.ranks[name], second.ranks[name])
