"""Leave-one-out end to end on a tiny log: every variant, full ranking, repeatable."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from models.evaluation import EvalConfig, LongTermConfig, StreamEvent, run_loo
from models.evaluation.config import MFConfig
from models.evaluation.loo import _prepare
from models.evaluation.stream_variants import VARIANTS
from models.interest_model import InterestConfig
from models.long_term import TrainConfig

TINY = EvalConfig(
    long_term=LongTermConfig(dim=8, max_len=10, dropout=0.0),
    training=TrainConfig(epochs=3, batch_size=16, device="cpu"),
    interest=InterestConfig(half_life_s=60.0, event_weights={"view": 1.0}),
    mf=MFConfig(factors=4, negatives=2),
    blend_priors=(0.2, 0.8),
    exclude_seen=True,
)


def cyclic_log(users: int = 30, length: int = 8, items: int = 20) -> list[StreamEvent]:
    """Each user walks the catalogue in steps of one, so the next item is learnable."""
    rng = random.Random(0)
    walks = {f"u{u}": rng.randrange(items) for u in range(users)}
    return [
        StreamEvent(user, f"i{(start + j) % items}", "view", float(j * users + n))
        for j in range(length)
        for n, (user, start) in enumerate(walks.items())
    ]


def test_events_split_into_train_validation_and_test_in_stream_order():
    data = _prepare(cyclic_log(users=3, length=4), TINY)
    assert len(data.train_events) == 6 and len(data.validation_events) == 3
    assert all(e.ts < 6 for e in data.train_events)
    assert [e.item_id for e in data.validation_events] == [
        data.split.validation[u] for u in data.validation.users
    ]


def test_every_variant_is_reported_and_runs_repeat():
    first, second = run_loo(cyclic_log(), TINY), run_loo(cyclic_log(), TINY)
    assert [s.name for s in first.scores] == list(VARIANTS)
    assert first.scores == second.scores
    assert all(s.evaluated == 30 for s in first.scores)
    assert all(0.0 <= s.ndcg <= s.hr <= 1.0 for s in first.scores)
    assert first.blend_prior in (0.2, 0.8)


def hot_and_warm_log(users: int = 10) -> list[StreamEvent]:
    """Everybody chose "hot" then "warm", then an item of their own, then "warm" again.

    Training counts tie "hot" and "warm" (ties go to the lower row: "hot");
    each test target is "warm", a re-choice of a seen item, with "hot" in the
    history.
    """
    order = ["hot", "warm", "own", "warm"]
    return [
        StreamEvent(f"u{u}", f"own{u}" if item == "own" else item, "view", float(j * users + u))
        for j, item in enumerate(order)
        for u in range(users)
    ]


def test_excluding_the_history_drops_seen_items_but_never_the_target():
    scores = {
        exclude: {
            s.name: s
            for s in run_loo(hot_and_warm_log(), replace(TINY, exclude_seen=exclude)).scores
        }
        for exclude in (True, False)
    }
    # Kept, "hot" outranks every target; dropped, the target "warm" is first.
    assert scores[False]["popularity"].mrr == pytest.approx(1 / 2)
    assert scores[False]["popularity"].ndcg == pytest.approx(1 / np.log2(3))
    assert scores[True]["popularity"].mrr == pytest.approx(1.0)
    assert all(np.isfinite(s.novelty) for s in scores[True].values() if s.novelty is not None)
