"""Live HR/NDCG/MRR@K: exact figures from planted ranks, per version, in a rolling window."""

from __future__ import annotations

import math

import pytest

from models.live_quality import LiveQuality, rank_in_shown


def test_rank_is_the_position_in_the_top_k_and_k_when_absent_or_beyond() -> None:
    shown = ["a", "b", "c", "d"]
    assert rank_in_shown(shown, "a", 3) == 0
    assert rank_in_shown(shown, "c", 3) == 2
    assert rank_in_shown(shown, "d", 3) == 3  # shown, but past K: a miss
    assert rank_in_shown(shown, "z", 3) == 3
    assert rank_in_shown([], "a", 3) == 3


def test_planted_hits_and_misses_give_the_exact_figures() -> None:
    live = LiveQuality(k=3, window=100)
    # ranks 0, 1, miss, miss: HR 2/4, NDCG (1 + 1/log2 3)/4, MRR (1 + 1/2)/4
    scored = live.add("v1", [0, 1, 3, 3])
    assert scored.hits.tolist() == [1.0, 1.0, 0.0, 0.0]
    total = live.total("v1")
    assert total.events == 4
    assert total.hit_rate == 0.5
    assert total.ndcg == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert total.mrr == pytest.approx(1.5 / 4)
    assert live.recent("v1") == total


def test_versions_are_kept_apart() -> None:
    live = LiveQuality(k=2, window=10)
    live.add("v1", [0, 0])
    live.add("v2", [2, 2, 2])
    assert live.total("v1").hit_rate == 1.0
    assert live.total("v2").hit_rate == 0.0
    assert live.total("v3").events == 0
    assert set(live.snapshot()) == {"v1", "v2"}
    assert live.snapshot()["v2"]["window_events"] == 3


def test_the_window_holds_only_the_last_n_events_but_totals_hold_all() -> None:
    live = LiveQuality(k=1, window=3)
    live.add("v", [0, 0, 0])
    live.add("v", [1, 1])  # the window is now [0, 1, 1]
    assert live.recent("v").events == 3
    assert live.recent("v").hit_rate == pytest.approx(1 / 3)
    assert live.total("v").events == 5
    assert live.total("v").hit_rate == pytest.approx(3 / 5)


def test_k_and_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LiveQuality(k=0, window=1)
    with pytest.raises(ValueError):
        LiveQuality(k=1, window=0)
