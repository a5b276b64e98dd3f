"""Ranking metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.ranking_metrics import (
    catalog_coverage,
    hit_rate_at_k,
    hit_rate_from_ranks,
    mrr_at_k,
    mrr_from_ranks,
    ndcg_at_k,
    ndcg_from_ranks,
    novelty,
    ranks_of_targets,
)


def test_single_list_metrics_by_hand():
    ranked = [7, 3, 9, 1]
    assert hit_rate_at_k(ranked, 7, k=1) == 1.0
    assert hit_rate_at_k(ranked, 3, k=1) == 0.0
    assert ndcg_at_k(ranked, 7, k=4) == 1.0
    assert ndcg_at_k(ranked, 3, k=4) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(ranked, 1, k=4) == pytest.approx(1 / math.log2(5))
    assert ndcg_at_k(ranked, 1, k=3) == 0.0
    assert mrr_at_k(ranked, 9, k=4) == pytest.approx(1 / 3)
    assert mrr_at_k(ranked, 9, k=2) == 0.0
    assert hit_rate_at_k(ranked, 42, k=10) == ndcg_at_k(ranked, 42, 10) == mrr_at_k(ranked, 42, 10)
    assert mrr_at_k(ranked, 42, k=10) == 0.0


def test_batch_metrics_from_ranks():
    ranks = np.array([0, 1, 2, 9, 10, 500])
    assert hit_rate_from_ranks(ranks, 10).tolist() == [1, 1, 1, 1, 0, 0]
    expected_ndcg = [1.0, 1 / math.log2(3), 0.5, 1 / math.log2(11), 0.0, 0.0]
    np.testing.assert_allclose(ndcg_from_ranks(ranks, 10), expected_ndcg)
    np.testing.assert_allclose(mrr_from_ranks(ranks, 10), [1, 1 / 2, 1 / 3, 1 / 10, 0, 0])


def test_ranks_break_ties_by_index_and_keep_the_target():
    scores = np.array(
        [
            [0.5, 0.5, 0.5, 0.5],  # all tied: rank = target index
            [0.9, 0.1, 0.9, 0.2],  # one strictly higher... and a tie before
            [0.0, 1.0, 2.0, 3.0],
        ]
    )
    before = scores.copy()
    assert ranks_of_targets(scores, np.array([3, 2, 0])).tolist() == [3, 1, 3]
    # Exclusions drop items to -inf but never the target itself.
    ranks = ranks_of_targets(scores, np.array([3, 2, 0]), exclude=[[0, 3], [0], [0, 2, 3]])
    assert ranks.tolist() == [2, 0, 1]
    np.testing.assert_array_equal(scores, before)  # the input is not modified


def test_ranks_match_a_full_sort():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(20, 30)).astype(np.float32)  # many ties
    targets = rng.integers(0, 30, size=20)
    ranks = ranks_of_targets(scores, targets)
    for row, target in enumerate(targets):
        # A stable sort on descending score keeps lower indices first among ties.
        order = np.argsort(-scores[row], kind="stable").tolist()
        assert ranks[row] == order.index(target)


def test_coverage_and_novelty_by_hand():
    assert catalog_coverage([[1, 2], [2, 3], [-1]], n_items=10) == 0.3
    with pytest.raises(ValueError):
        catalog_coverage([[1]], n_items=0)
    counts = np.array([4, 2, 2, 0])  # total 8; the unseen item counts as 1
    assert novelty([[0, 1], [3]], counts) == pytest.approx((1 + 2 + 3) / 3)
    assert novelty([[-1]], counts) == 0.0
