"""Score-level fusion of the long-term and short-term parts: the worker's and the harness's.

The vector blend (:func:`models.blend.blend_rows`) adds the two unit vectors
and scores the sum against one item matrix, so the GRU's user vector is read
against item vectors that online learning has moved since the refresh, and a
part whose scores spread wider dominates. Here each part ranks the catalogue
in its own item space: the long-term vector against the GRU's item vectors of
the model version (fixed from the swap to the next one), the short-term vector
against the online item table. Each user's two score rows are calibrated to
z-scores over the catalogue (an item the GRU does not know scores its mean, 0)
and mixed as ``w·z_long + (1 − w)·z_short`` with the user's learned weight
(:class:`models.blend.MixWeightLearner`, stepped on calibrated margins by
:func:`mix_step`).

:func:`fused_scores` scores a batch (one matrix product per part);
:meth:`FusionSpace.top_k` selects from it, or, above the approximate index's
size, re-ranks the index's candidates for the vector blend with scores
calibrated from catalogue moments (the same z-scores, from each matrix's
mean and covariance instead of the full rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from models.blend import MixWeightLearner
from models.explain import Explanations, InterestParts, dots_of, nearest_recent
from models.item_table import ItemTable
from models.topk import TopKIndex, top_k_of_scores

Blend = Literal["vector", "fusion"]
BLENDS: tuple[Blend, ...] = ("vector", "fusion")
FUSION_SHARPNESS = 5.0
"""Sharpness of the weight's pairwise step on calibrated margins (units of one spread).
Prequential ml-100k, 30,000 events, fusion NDCG@10 by sharpness: 1: 0.0635, 3: 0.0652,
5: 0.0656, 10: 0.0657 (benchmarks/results/README.md)."""
MOMENTS_EVERY = 256
"""Calls between recomputations of the online table's moments (also on a 1% size change)."""


def as_blend(name: str) -> Blend:
    """A setting's text as a :data:`Blend` (``INTERESTS_BLEND``)."""
    if name == "fusion":
        return "fusion"
    if name == "vector":
        return "vector"
    raise ValueError(f"unknown blend {name!r}: vector or fusion")


def sharpness_of(blend: Blend) -> float:
    """The weight step's sharpness: fusion's margins are z-scores, the vector blend's dots."""
    return FUSION_SHARPNESS if blend == "fusion" else 5.0


def mix_learner(
    blend: Blend, prior: float = 0.5, learn: bool = True, surfaces: int = 1
) -> MixWeightLearner:
    """The weight learner a blend steps (held at ``prior`` unless ``learn``)."""
    rates = {} if learn else {"user_learning_rate": 0.0, "global_learning_rate": 0.0}
    return MixWeightLearner(prior, sharpness=sharpness_of(blend), surfaces=surfaces, **rates)


@dataclass(frozen=True, slots=True)
class Moments:
    """Mean and covariance of item rows: the mean and spread of any user's scores over them."""

    mean: np.ndarray  # (dim,)
    cov: np.ndarray  # (dim, dim)

    @classmethod
    def of(cls, rows: np.ndarray) -> Moments:
        """The moments of ``rows`` (items × dim).

        >>> mean, sd = Moments.of(np.array([[1.0, 0.0], [3.0, 0.0]])).stats(np.array([[1.0, 5.0]]))
        >>> mean.tolist(), sd.tolist()
        ([2.0], [1.0])
        """
        x = np.asarray(rows, np.float64)
        if not x.shape[0]:
            dim = x.shape[1]
            return cls(np.zeros(dim), np.zeros((dim, dim)))
        mean = x.mean(axis=0)
        cov = (x.T @ x) / x.shape[0] - np.outer(mean, mean)
        return cls(mean, cov)

    def stats(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per user row: mean and standard deviation of its scores over the rows."""
        v = np.asarray(vectors, np.float64)
        # v·C·v per row as one matrix product (a three-operand einsum loops in C per u, d, e).
        var = np.einsum("ud,ud->u", v @ self.cov, v)
        return v @ self.mean, np.sqrt(np.maximum(var, 0.0))


class LongTermItems:
    """The GRU's item vectors of one model version, looked up by the online table's rows.

    Items published with the version are known; items the table gained since
    (new catalogue entries, rows recycled for new items) are not: the GRU has
    no vector for them and they score its mean.

    >>> lt = LongTermItems.from_vectors({"a": np.array([1.0, 0.0])})
    >>> table = ItemTable(2, 0)
    >>> _ = table.index_of("b"), table.index_of("a")
    >>> lt.aligned(table)[1].tolist()
    [False, True]
    """

    def __init__(self, ids: Sequence[str], matrix: np.ndarray) -> None:
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.row_of = {item_id: n for n, item_id in enumerate(ids)}
        self.moments = Moments.of(self.matrix)
        dim = self.matrix.shape[1]
        self._rows = np.zeros((0, dim), np.float32)
        self._known = np.zeros(0, bool)
        self._ids: list[str] = []
        self._recycled = -1

    @classmethod
    def from_vectors(cls, vectors: Mapping[str, np.ndarray]) -> LongTermItems:
        ids = list(vectors)
        dim = len(next(iter(vectors.values()))) if ids else 0
        matrix = np.stack([vectors[i] for i in ids]) if ids else np.zeros((0, dim))
        return cls(ids, matrix)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def add(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Items placed in the GRU's space since the version (cold items, by the content
        projection); a known one keeps its vector. The moments stay the version's."""
        new = [i for i in vectors if i not in self.row_of]
        if not new:
            return
        rows = np.stack([vectors[i] for i in new]).astype(np.float32)
        self.row_of.update({i: len(self) + n for n, i in enumerate(new)})
        self.matrix = np.concatenate([self.matrix, rows])
        self._ids, self._recycled = [], -1  # realign on the next call

    def aligned(self, items: ItemTable) -> tuple[np.ndarray, np.ndarray]:
        """(rows, known): the GRU vector of each online row (a zero row where it has none).

        Cached; rows appended to the table since the last call are added,
        a recycled row realigns the whole table.
        """
        n = len(items)
        if items.recycled != self._recycled or n < len(self._ids):
            self._ids, self._recycled = [], items.recycled
            self._rows, self._known = self._rows[:0], self._known[:0]
        if n > len(self._ids):
            new_ids = items.ids[len(self._ids) : n]
            found = np.fromiter((self.row_of.get(i, -1) for i in new_ids), np.intp, len(new_ids))
            known = found >= 0
            rows = np.zeros((len(new_ids), self.matrix.shape[1]), np.float32)
            rows[known] = self.matrix[found[known]]
            self._rows = np.concatenate([self._rows, rows])
            self._known = np.concatenate([self._known, known])
            self._ids = self._ids + list(new_ids)
        return self._rows, self._known


@dataclass(frozen=True, slots=True)
class Fused:
    """A batch's fused scores and each part's calibration per user (for explanations)."""

    scores: np.ndarray  # (users, items), float32
    weights: np.ndarray  # (users,) long-term weight, missing parts resolved
    long_mean: np.ndarray  # (users,)
    long_sd: np.ndarray
    short_mean: np.ndarray
    short_sd: np.ndarray


def _row_stats(raw: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's mean and standard deviation over ``count`` columns (the others hold 0)."""
    n = max(count, 1)
    mean = raw.sum(axis=1).astype(np.float64) / n
    second = np.einsum("un,un->u", raw, raw).astype(np.float64) / n
    return mean, np.sqrt(np.maximum(second - mean * mean, 0.0))


def _scale(weight: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``weight / sd`` per user; 0 for a constant row (it says nothing about the ranking)."""
    out: np.ndarray = np.where(sd > 0, weight / np.where(sd > 0, sd, 1.0), 0.0)
    return out


def fused_scores(
    parts: InterestParts, long_items: np.ndarray, long_known: np.ndarray, short_items: np.ndarray
) -> Fused:
    """Fused scores of a batch of users over all item rows (one product per part).

    ``parts`` are the users' long- and short-term rows and resolved weights
    (:meth:`models.interest_model.InterestModel.interest_parts`; a zero row is a
    missing part and its user's weight already puts all mass on the other);
    ``long_items`` the GRU's item rows aligned to ``short_items`` (zero where
    ``long_known`` is False).

    >>> parts = InterestParts(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([0.75]))
    >>> items = np.array([[2.0, 0.0], [0.0, 1.0]], np.float32)
    >>> fused_scores(parts, items, np.array([True, True]), items).scores.tolist()
    [[0.5, -0.5]]
    """
    weights = parts.weights.astype(np.float64)
    # z = (raw - mean) / sd per part, mixed: a·raw_long + b·raw_short + c, in place.
    scores = parts.long_term.astype(np.float32, copy=False) @ long_items.T
    long_mean, long_sd = _row_stats(scores, int(long_known.sum()))
    if not long_known.all():
        scores[:, ~long_known] = long_mean.astype(np.float32)[:, None]  # z = 0
    short_raw = parts.short_term.astype(np.float32, copy=False) @ short_items.T
    short_mean, short_sd = _row_stats(short_raw, short_raw.shape[1])
    a, b = _scale(weights, long_sd), _scale(1.0 - weights, short_sd)
    scores *= a.astype(np.float32)[:, None]
    short_raw *= b.astype(np.float32)[:, None]
    scores += short_raw
    scores -= (a * long_mean + b * short_mean).astype(np.float32)[:, None]
    return Fused(scores, parts.weights, long_mean, long_sd, short_mean, short_sd)


@dataclass(slots=True)
class FusionSpace:
    """What a model version needs for score-level fusion: the GRU's item rows beside the table."""

    long_term: LongTermItems
    _short_moments: Moments | None = field(default=None, repr=False)
    _moments_size: int = 0
    _calls: int = 0

    def short_moments(self, short_items: np.ndarray) -> Moments:
        """The online table's moments, recomputed every :data:`MOMENTS_EVERY` calls or on
        a 1% size change (the table moves slowly; a full pass costs rows × dim²)."""
        n = short_items.shape[0]
        self._calls += 1
        if (
            self._short_moments is None
            or self._calls >= MOMENTS_EVERY
            or abs(n - self._moments_size) > self._moments_size // 100
        ):
            self._short_moments, self._moments_size, self._calls = Moments.of(short_items), n, 0
        return self._short_moments

    def scores(self, parts: InterestParts, items: ItemTable) -> Fused:
        """:func:`fused_scores` of the users over every row of the online table."""
        long_items, known = self.long_term.aligned(items)
        return fused_scores(parts, long_items, known, items.matrix)

    def top_k(
        self,
        parts: InterestParts,
        items: ItemTable,
        k: int,
        exclude: Sequence[Sequence[int]],
        index: TopKIndex | None = None,
        vectors: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, Fused]:
        """Best ``k`` rows per user by fused score, best first (-1 / -inf padded), and the
        fused scores (excluded entries set to -inf).

        With an approximate ``index`` the candidates are the index's top
        ``max(4k, 200)`` for the users' blended ``vectors``, re-ranked by fused
        scores calibrated from the two matrices' moments.
        """
        if index is None or vectors is None:
            fused = self.scores(parts, items)
            best, scores = top_k_of_scores(fused.scores, k, exclude)
            return best, scores, fused
        fetch = max(4 * k, 200)
        candidates, _ = index.top_k(vectors, items.matrix, fetch, exclude)
        fused = self._candidate_scores(parts, items, candidates)
        order = np.argsort(-fused.scores, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(candidates, order, axis=1)
        scores = np.take_along_axis(fused.scores, order, axis=1)
        best = np.where(np.isneginf(scores), -1, best)
        return best, scores, fused

    def _candidate_scores(
        self, parts: InterestParts, items: ItemTable, candidates: np.ndarray
    ) -> Fused:
        long_items, known = self.long_term.aligned(items)
        valid = candidates >= 0
        rows = np.where(valid, candidates, 0)
        long_mean, long_sd = self.long_term.moments.stats(parts.long_term)
        short_mean, short_sd = self.short_moments(items.matrix).stats(parts.short_term)
        z_long = _z(np.einsum("ucd,ud->uc", long_items[rows], parts.long_term), long_mean, long_sd)
        z_long[~known[rows]] = 0.0
        short_raw = np.einsum("ucd,ud->uc", items.matrix[rows], parts.short_term)
        z_short = _z(short_raw, short_mean, short_sd)
        w = parts.weights[:, None]
        scores = (w * z_long + (1.0 - w) * z_short).astype(np.float32)
        scores[~valid] = -np.inf
        return Fused(scores, parts.weights, long_mean, long_sd, short_mean, short_sd)

    def gru_rows(self, rows: np.ndarray, items: ItemTable) -> np.ndarray:
        """The vectors the GRU steps a user with for these table rows: its own where it knows
        the item (the space it was trained in), the online one where it does not."""
        long_items, known = self.long_term.aligned(items)
        out: np.ndarray = np.where(known[rows][:, None], long_items[rows], items.matrix[rows])
        return out

    def margins(
        self,
        long_vectors: np.ndarray,
        short_vectors: np.ndarray,
        chosen: np.ndarray,
        others: np.ndarray,
        items: ItemTable,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated margins of each chosen row over sampled ``others`` rows, per part.

        A margin is z(chosen) − z(other) of one part's scores; the z-scores are
        calibrated from the matrices' moments, since a fold step cannot score
        the whole catalogue for every event.
        """
        long_items, known = self.long_term.aligned(items)
        matrix = items.matrix
        long_mean, long_sd = self.long_term.moments.stats(long_vectors)
        _, short_sd = self.short_moments(matrix).stats(short_vectors)
        lv = long_vectors.astype(np.float32, copy=False)
        sv = short_vectors.astype(np.float32, copy=False)
        # The mean cancels in a margin; an unknown row scores the mean.
        rows = np.concatenate([chosen[:, None], others], axis=1)  # the chosen row first
        long_dots, _ = dots_of(rows, lv, long_items)
        long_dots = np.where(known[rows], long_dots, long_mean[:, None])
        short_dots, _ = dots_of(rows, sv, matrix)
        lc, lo = long_dots[:, 0], long_dots[:, 1:]
        sc, so = short_dots[:, 0], short_dots[:, 1:]
        long_m = (lc[:, None] - lo) / np.where(long_sd > 0, long_sd, np.inf)[:, None]
        short_m = (sc[:, None] - so) / np.where(short_sd > 0, short_sd, np.inf)[:, None]
        return long_m, short_m


def _z(raw: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    out: np.ndarray = (raw - mean[:, None]) / np.where(sd > 0, sd, np.inf)[:, None]
    return out


def mix_step(
    space: FusionSpace,
    mix: MixWeightLearner,
    offsets: np.ndarray,
    long_vectors: np.ndarray,
    short_vectors: np.ndarray,
    chosen: np.ndarray,
    others: np.ndarray,
    items: ItemTable,
    surfaces: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The weight's learning step under fusion: one pairwise step per user towards the part
    that ranked the ``chosen`` row above the sampled ``others`` by more (calibrated).

    ``offsets`` are the users' offsets on their event's surface (index; None: the
    default one). Returns the new offsets and the gradients of those surfaces'
    global logits (:meth:`MixWeightLearner.observe_many`).
    """
    long_m, short_m = space.margins(long_vectors, short_vectors, chosen, others, items)
    return mix.observe_many(offsets, long_m, short_m, surfaces)


def explain_fused(
    space: FusionSpace,
    parts: InterestParts,
    items: ItemTable,
    best: np.ndarray,
    recent_rows: Sequence[Sequence[int]] | np.ndarray,
) -> Explanations:
    """:func:`models.explain.explain` under fusion: the long-term share of an item is
    ``w·max(z_long, 0)`` over that plus ``(1 − w)·max(z_short, 0)`` (the mix weight when
    neither part scores it above its mean); the nearest recent item is the same."""
    valid = best >= 0
    rows = np.where(valid, best, 0)
    long_items, known = space.long_term.aligned(items)
    long_mean, long_sd = space.long_term.moments.stats(parts.long_term)
    short_mean, short_sd = space.short_moments(items.matrix).stats(parts.short_term)
    lv = parts.long_term.astype(np.float32, copy=False)
    sv = parts.short_term.astype(np.float32, copy=False)
    raw_long, _ = dots_of(rows, lv, long_items)
    raw_short, chosen = dots_of(rows, sv, items.matrix)
    nearest = nearest_recent(items.matrix, best, recent_rows, chosen)
    z_long = _z(raw_long, long_mean, long_sd)
    z_short = _z(raw_short, short_mean, short_sd)
    z_long[~known[rows]] = 0.0
    w = parts.weights[:, None]
    long_part = np.maximum(w * z_long, 0.0)
    short_part = np.maximum((1.0 - w) * z_short, 0.0)
    total = long_part + short_part
    share = np.where(
        total > 0, long_part / np.where(total > 0, total, 1.0), np.broadcast_to(w, total.shape)
    )
    return Explanations(np.where(valid, share, 0.0).astype(np.float32), nearest)
