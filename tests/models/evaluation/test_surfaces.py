"""The per-surface mixing measurement: its generator and replay on a small world."""

from __future__ import annotations

import numpy as np

from models.evaluation.surfaces import make_world, replay
from models.user_interest import InterestConfig


def test_the_world_differs_by_surface_and_replays_deterministically() -> None:
    world = make_world(users=40, events=30, categories=6, per_category=10, dim=8, seed=3)
    assert world.items.shape == world.surface.shape == (30, 40)
    assert set(np.unique(world.surface).tolist()) == {0, 1, 2}
    config = InterestConfig(half_life_s=60.0, learn_items=False)
    first = replay(world, True, config, warmup=5)
    again = replay(world, True, config, warmup=5)
    assert first.ranks == again.ranks
    assert sum(len(r) for r in first.ranks.values()) == 25 * 40
    # Per surface, its own prior: the search page leans further to short-term than home.
    assert first.weights["search"] < first.weights["home"]
    single = replay(world, False, config, warmup=5)
    assert len(set(single.weights.values())) == 1  # one prior for every surface
    assert set(first.summary()) == {"home", "search", "product", "all"}
