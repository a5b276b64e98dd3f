"""Blending long-term and short-term interest with a mixing weight learned online.

The weight a user gives to their long-term vector is ``w = sigmoid(g + d_u)``:
``g`` is a global prior learned from every user's next action, ``d_u`` the
user's own offset (stored with the user, pulled towards 0 so new users start
at the prior). After each event the weight takes one pairwise (BPR) step: the
blend should score the item the user chose above a few sampled items. It
compares score margins, as ranking does, not cosines: a cosine ignores item
norms (popularity, in a trained space) and favours whichever vector is built
from item vectors, which is the short-term one. Steps are river's SGD
optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from river import optim

from models.short_term import unit


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def cosine(a: np.ndarray | None, b: np.ndarray) -> float:
    """Cosine similarity; 0 when either side is missing or zero.

    >>> cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0]))
    1.0
    """
    if a is None:
        return 0.0
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b) / (na * nb) if na > 0 and nb > 0 else 0.0


def blend(long_term: np.ndarray | None, short_term: np.ndarray | None, weight: float) -> np.ndarray:
    """``weight`` × unit(long-term) + (1 − weight) × unit(short-term).

    A missing or zero side gives all of the mass to the other one.

    >>> blend(np.array([2.0, 0.0]), np.array([0.0, 3.0]), 0.25).tolist()
    [0.25, 0.75]
    >>> blend(None, np.array([0.0, 3.0]), 0.9).tolist()
    [0.0, 1.0]
    """
    lt = unit(long_term) if long_term is not None else None
    st = unit(short_term) if short_term is not None else None
    if lt is None or not lt.any():
        return st if st is not None else np.zeros(0, np.float32)
    if st is None or not st.any():
        return lt
    mixed: np.ndarray = (weight * lt + (1.0 - weight) * st).astype(np.float32)
    return mixed


def stack_rows(vectors: Sequence[np.ndarray], width: int) -> np.ndarray:
    """Equal-size vectors (any shape, ``width`` values each) as the rows of a new float32
    array: ``np.stack(vectors).reshape(len(vectors), width)`` in one concatenation.

    >>> stack_rows([np.ones(2), np.zeros(2)], 2).tolist()
    [[1.0, 1.0], [0.0, 0.0]]
    """
    if not vectors:
        return np.zeros((0, width), np.float32)
    flat = np.concatenate(vectors)  # (n × width) values, whatever each vector's shape
    if flat.size != len(vectors) * width:
        raise ValueError(f"vectors of {width} values expected, {flat.size} in all")
    return flat.astype(np.float32, copy=False).reshape(len(vectors), width)


def unit_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row scaled to length 1 (zero rows stay zero), and the rows' lengths."""
    norms = np.linalg.norm(rows, axis=1)
    safe = np.where(norms > 0, norms, 1.0).astype(rows.dtype)
    scaled: np.ndarray = rows / safe[:, None]
    return scaled, norms


def blend_rows(long_term: np.ndarray, short_term: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`blend` for many users at once (rows; a zero row is a missing side).

    >>> blend_rows(np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([[0.0, 3.0], [0.0, 3.0]]),
    ...            np.array([0.25, 0.9])).tolist()
    [[0.25, 0.75], [0.0, 1.0]]
    """
    lt, lt_norm = unit_rows(long_term)
    st, st_norm = unit_rows(short_term)
    has_lt, has_st = lt_norm > 0, st_norm > 0
    w = np.where(has_lt & has_st, weights, np.where(has_lt, 1.0, 0.0))[:, None]
    mixed: np.ndarray = (w * lt + (1.0 - w) * st).astype(np.float32)
    return mixed


@dataclass(frozen=True, slots=True)
class MixStep:
    """What one observed action did to the weight (for logs and tests)."""

    weight_before: float
    weight_after: float
    user_offset: float


class MixWeightLearner:
    """Learns ``g`` (held here) and returns each user's new ``d_u`` (stored by the caller).

    >>> learner = MixWeightLearner(prior=0.5)
    >>> # Long-term scores the chosen item above both sampled ones; short-term does not.
    >>> step = learner.observe(0.0, np.array([0.8, 0.5]), np.array([-0.2, 0.1]))
    >>> step.weight_after > step.weight_before
    True
    """

    def __init__(
        self,
        prior: float = 0.5,
        user_learning_rate: float = 0.5,
        global_learning_rate: float = 0.01,
        sharpness: float = 5.0,
        user_l2: float = 0.01,
        surfaces: int = 1,
    ) -> None:
        if not 0.0 < prior < 1.0:
            raise ValueError("prior must be strictly between 0 and 1")
        self.initial_logit = math.log(prior / (1.0 - prior))
        # One global logit per surface (models.surfaces); index 0 is the default surface.
        self.global_logit = np.full(max(1, surfaces), self.initial_logit)
        self.sharpness = sharpness
        self.user_l2 = user_l2
        self._user_sgd = optim.SGD(user_learning_rate)
        self._global_sgd = optim.SGD(global_learning_rate)

    def weight(self, user_offset: float) -> float:
        """The user's current long-term weight."""
        return _sigmoid(float(self.global_logit[0]) + user_offset)

    def observe(
        self, user_offset: float, long_margins: np.ndarray, short_margins: np.ndarray
    ) -> MixStep:
        """One step of ``mean -log sigmoid(k · blended margin)`` over sampled items.

        A margin is the chosen item's score minus a sampled item's, under the
        unit long-term (``long_margins``) or short-term vector.
        """
        w = self.weight(user_offset)
        margins = w * long_margins + (1.0 - w) * short_margins
        # d loss / d logit of w, through the blended margins.
        slopes = -(1.0 - 1.0 / (1.0 + np.exp(-np.clip(self.sharpness * margins, -30, 30))))
        slope = float(np.mean(slopes * (long_margins - short_margins))) * self.sharpness
        gradient = slope * w * (1.0 - w)
        offset = np.array([user_offset])
        self._user_sgd.step(offset, np.array([gradient + self.user_l2 * user_offset]))
        self.step_global(gradient)
        new_offset = float(offset[0])
        return MixStep(w, self.weight(new_offset), new_offset)

    @property
    def surface_count(self) -> int:
        return int(self.global_logit.shape[0])

    def weights(self, user_offsets: np.ndarray, surfaces: np.ndarray | None = None) -> np.ndarray:
        """:meth:`weight` of many users, each on its surface (index; None: the default)."""
        prior = self.global_logit[0] if surfaces is None else self.global_logit[surfaces]
        x = np.clip(prior + user_offsets, -30.0, 30.0)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
        return out

    def observe_many(
        self,
        user_offsets: np.ndarray,
        long_margins: np.ndarray,
        short_margins: np.ndarray,
        surfaces: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`observe` for many users (rows of margins), without the global step.

        Returns the users' new offsets and each one's gradient of the global
        logit (of its surface); :meth:`step_global` applies those once the users'
        writes are committed, so a retried batch never steps the prior twice.
        """
        w = self.weights(user_offsets, surfaces)
        margins = w[:, None] * long_margins + (1.0 - w[:, None]) * short_margins
        slopes = -(1.0 - 1.0 / (1.0 + np.exp(-np.clip(self.sharpness * margins, -30, 30))))
        slope = np.mean(slopes * (long_margins - short_margins), axis=1) * self.sharpness
        gradients: np.ndarray = slope * w * (1.0 - w)
        offsets = np.array(user_offsets, dtype=np.float64)
        self._user_sgd.step(offsets, gradients + self.user_l2 * offsets)
        return offsets, gradients

    def step_global(self, gradient: float | np.ndarray) -> None:
        """One SGD step of the global logit with a summed gradient: a number steps the
        default surface's, an array (one per surface) each surface's."""
        steps = np.zeros(self.surface_count)
        if np.ndim(gradient) == 0:
            steps[0] = float(gradient)
        else:
            given = np.asarray(gradient, np.float64)
            steps[: given.size] = given[: self.surface_count]
        if steps.any():
            self._global_sgd.step(self.global_logit, steps)

    @property
    def global_learning_rate(self) -> float:
        return float(self._global_sgd.learning_rate)
