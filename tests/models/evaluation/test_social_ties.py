"""Ground-truth follow ties: noise decides how many followees share the new user's taste."""

from __future__ import annotations

import numpy as np

from models.evaluation.social_ties import cold_list_scores, tie_followees


def test_ties_follow_taste_up_to_the_noise() -> None:
    rng = np.random.default_rng(3)
    tastes = rng.integers(8, size=400)
    for noise, low, high in ((0.0, 1.0, 1.0), (0.5, 0.5, 0.65), (1.0, 0.05, 0.2)):
        alike = []
        for taste in rng.integers(8, size=300).tolist():
            chosen = tie_followees(tastes, taste, 3, noise, rng)
            assert len(set(chosen)) == 3
            alike += (tastes[chosen] == taste).tolist()
        assert low <= float(np.mean(alike)) <= high, noise


def test_a_small_world_still_gives_distinct_followees() -> None:
    chosen = tie_followees(np.array([0, 1]), 0, 3, 0.0, np.random.default_rng(0))
    assert sorted(chosen) == [0, 1]


def test_cold_lists_score_each_first_event_and_skip_users_without_any() -> None:
    lists = np.array([[5, 6], [7, 8], [1, 2]])
    assert cold_list_scores(lists, [[5, 5], [9], []], k=2) == (0.5, 0.5)
