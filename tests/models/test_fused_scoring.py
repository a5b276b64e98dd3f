"""Score-level fusion (models.fused_scoring): calibration, the index path, the weight's step."""

from __future__ import annotations

import numpy as np
import pytest

from models.ann_index import HnswParams, HnswTopK
from models.blend import MixWeightLearner, blend_rows
from models.explain import InterestParts
from models.fused_scoring import FusionSpace, LongTermItems, Moments, mix_step
from models.item_table import ItemTable

DIM = 6


def _z(row: np.ndarray) -> np.ndarray:
    out: np.ndarray = (row - row.mean()) / row.std()
    return out


def _space(n: int, seed: int = 0) -> tuple[FusionSpace, ItemTable, np.ndarray]:
    rng = np.random.default_rng(seed)
    table = ItemTable(DIM, seed)
    table.load({f"i{r}": rng.standard_normal(DIM) for r in range(n)})
    gru = rng.standard_normal((n, DIM)).astype(np.float32)
    return FusionSpace(LongTermItems(table.ids, gru)), table, gru


def _parts(users: int, seed: int = 1) -> InterestParts:
    rng = np.random.default_rng(seed)
    return InterestParts(
        rng.standard_normal((users, DIM)).astype(np.float32),
        rng.standard_normal((users, DIM)).astype(np.float32),
        rng.uniform(0.1, 0.9, users),
    )


def test_each_part_is_z_scored_in_its_own_item_space() -> None:
    space, table, gru = _space(50)
    parts = _parts(4)
    got = space.scores(parts, table).scores
    for u in range(4):
        w = parts.weights[u]
        want = w * _z(gru @ parts.long_term[u]) + (1 - w) * _z(table.matrix @ parts.short_term[u])
        np.testing.assert_allclose(got[u], want, rtol=1e-4, atol=1e-4)


def test_items_the_gru_does_not_know_score_its_mean() -> None:
    space, table, gru = _space(30)
    table.index_of("new")  # a catalogue item added after the version
    parts = _parts(2)
    got = space.scores(parts, table).scores
    for u in range(2):
        w = parts.weights[u]
        z_long = np.append(_z(gru @ parts.long_term[u]), 0.0)
        want = w * z_long + (1 - w) * _z(table.matrix @ parts.short_term[u])
        np.testing.assert_allclose(got[u], want, rtol=1e-4, atol=1e-4)


def test_a_missing_part_leaves_the_other_ranking() -> None:
    space, table, _ = _space(20)
    parts = _parts(1)
    only_short = InterestParts(np.zeros((1, DIM), np.float32), parts.short_term, np.zeros(1))
    got = space.scores(only_short, table).scores[0]
    np.testing.assert_allclose(got, _z(table.matrix @ parts.short_term[0]), atol=1e-4)


def test_moments_give_the_same_calibration_as_the_full_rows() -> None:
    space, table, gru = _space(200)
    parts = _parts(3)
    fused = space.scores(parts, table)
    mean, sd = Moments.of(gru).stats(parts.long_term)
    np.testing.assert_allclose(mean, fused.long_mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sd, fused.long_sd, rtol=1e-4)


def test_top_k_excludes_and_the_index_path_agrees_with_brute_force() -> None:
    space, table, _ = _space(400)
    parts = _parts(5)
    exclude = [[0, 1, 2], [], [5], [], [7, 8]]
    best, scores, _ = space.top_k(parts, table, 10, exclude)
    for u, rows in enumerate(exclude):
        assert not set(rows) & set(best[u].tolist())
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    index = HnswTopK(table.matrix, HnswParams(ef_search=400))
    vectors = blend_rows(parts.long_term, parts.short_term, parts.weights)
    approx, approx_scores, _ = space.top_k(parts, table, 10, exclude, index, vectors)
    # Candidates come from the vector blend; the fused re-ranking of them mostly agrees.
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, best, strict=True)])
    assert overlap >= 0.5
    hit = approx == best
    np.testing.assert_allclose(approx_scores[hit], scores[hit], rtol=1e-3, atol=1e-3)


def test_the_weight_moves_toward_the_part_that_ranked_the_choice_higher() -> None:
    space, table, gru = _space(100)
    rng = np.random.default_rng(5)
    long_v = rng.standard_normal((1, DIM)).astype(np.float32)
    short_v = rng.standard_normal((1, DIM)).astype(np.float32)
    by_long = int(np.argmax(gru @ long_v[0]))
    by_short = int(np.argmax(table.matrix @ short_v[0]))
    others = rng.integers(0, 100, (1, 16))
    for chosen, toward_long in ((by_long, True), (by_short, False)):
        mix = MixWeightLearner(0.5, sharpness=1.0)
        before = mix.weights(np.zeros(1))[0]
        offsets, gradients = mix_step(
            space, mix, np.zeros(1), long_v, short_v, np.array([chosen]), others, table
        )
        after = mix.weights(offsets)[0]
        assert (after > before) == toward_long, (chosen, before, after)
        assert (gradients[0] < 0) == toward_long  # the global prior would move the same way


@pytest.mark.parametrize("recycle", [False, True])
def test_alignment_follows_the_table(recycle: bool) -> None:
    lt = LongTermItems.from_vectors({"a": np.ones(DIM), "b": np.full(DIM, 2.0)})
    table = ItemTable(DIM, 0, max_items=3 if recycle else None)
    for item in ("b", "x", "a"):
        table.index_of(item)
    rows, known = lt.aligned(table)
    assert known.tolist() == [True, False, True] and rows[0, 0] == 2.0
    table.begin_batch()
    table.index_of("y")  # appended, or given a recycled row
    rows, known = lt.aligned(table)
    assert len(known) == len(table)
    assert known.tolist() == [lt.row_of.get(i, -1) >= 0 for i in table.ids]


def test_items_placed_in_the_grus_space_later_are_known_to_it() -> None:
    space, table, _ = _space(10)
    table.index_of("cold")
    assert not space.long_term.aligned(table)[1][-1]
    space.long_term.add({"cold": np.full(DIM, 3.0), "i0": np.zeros(DIM)})
    rows, known = space.long_term.aligned(table)
    assert known.all() and rows[-1, 0] == 3.0
    assert rows[0].any()  # a known item keeps its trained vector
