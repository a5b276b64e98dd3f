"""The candidate's side of a shadow run: ranks from a user's state in its own space."""

from __future__ import annotations

import numpy as np

from models.blend import blend_rows
from models.item_table import ItemTable
from models.shadow import ShadowModel, ShadowTally
from tests.support.gru import random_stepper


def _table(n: int, dim: int, seed: int) -> ItemTable:
    table = ItemTable(dim, seed)
    rng = np.random.default_rng(seed)
    table.load({f"i{r}": rng.normal(size=dim).astype(np.float32) for r in range(n)})
    return table


def test_ranks_are_positions_among_unseen_items_by_the_blended_score() -> None:
    items = _table(40, 6, seed=1)
    model = ShadowModel("gru-2", items, stepper=None, short_term_decay=0.5, window=3)
    recents = [["i3", "i7", "i9", "i11"], ["i5"], []]
    weights = np.array([0.3, 0.6, 0.5])
    chosen = ["i20", "i5", "i1"]
    ranks = model.ranks(recents, weights, chosen, k=10)

    m = items.matrix
    short = np.stack([m[3] + 0.5 * m[7] + 0.25 * m[9], m[5], np.zeros(6)]).astype(np.float32)
    vectors = blend_rows(np.zeros_like(short), short, weights)  # no GRU: short-term only
    scores = vectors[0] @ m.T
    scores[[3, 7, 9, 11]] = -np.inf  # the user's recent items are never ranked
    assert ranks[0] == min(10, int((scores > scores[20]).sum()))
    # A repeat of a recent item: no list shows it, a miss (as for the current version).
    assert ranks[1] == 10
    assert ranks[2] == 10  # no state to rank from: a miss


def test_an_item_the_candidate_never_saw_is_a_miss() -> None:
    model = ShadowModel("gru-2", _table(10, 4, seed=2), stepper=None)
    assert model.ranks([["i1"]], np.array([0.5]), ["unknown"], k=5) == [5]


def test_the_tally_pairs_ranks_and_sums_ndcg() -> None:
    tally = ShadowTally.of([0, 10, 1], [0, 0, 10], k=10)
    assert (tally.events, tally.current_hits, tally.candidate_hits) == (3, 2, 2)
    current, candidate = tally.mean_ndcg()
    assert candidate == 2 / 3 and 0.5 < current < 2 / 3


def test_under_fusion_the_candidate_ranks_by_calibrated_parts() -> None:
    items = _table(40, 8, seed=3)
    model = ShadowModel("gru-2", items, stepper=random_stepper(8), blend="fusion")
    recents, weights, chosen = [["i3", "i7", "i9"]], np.array([0.7]), ["i20"]
    parts = model.user_parts(recents, weights)
    assert parts.long_term.any() and parts.short_term.any()

    def z(x: np.ndarray) -> np.ndarray:
        out: np.ndarray = (x - x.mean()) / x.std()
        return out

    m = items.matrix
    scores = 0.7 * z(m @ parts.long_term[0]) + 0.3 * z(m @ parts.short_term[0])
    scores[[3, 7, 9]] = -np.inf
    want = min(10, int((scores > scores[20] + 1e-5).sum()))
    assert abs(model.ranks(recents, weights, chosen, k=10)[0] - want) <= 1  # float ties
