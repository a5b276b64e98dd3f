"""Short-term interest: a time-decayed, weighted sum of the items a user acted on.

The decay uses the half-life of the settings in *event time*, so a replayed
log gives the same vectors as the live stream did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from river import stats

Vector = np.ndarray

SURPRISE_COSINE = 0.2
"""An item whose cosine with the user's decayed short-term vector is below this surprises it.

On the synthetic drifting users (after the first refresh) 91% of on-topic items are above
and 95% of the items of another category are below (benchmarks/results/README.md, issue 14:
drift)."""
SURPRISE_KEEP = 0.1
"""Share of the decayed short-term vector kept when the event's item surprises it: a switch of
interest shows in the ranking after one event instead of two; an off-topic item is outweighed
again by the next on-topic one."""


def surprise_keep(item_unit: Vector, context_unit: Vector) -> Vector:
    """Per row, the factor on the decayed context before an item is added: ``SURPRISE_KEEP``
    where the unit item is far from the unit context (cosine below ``SURPRISE_COSINE``), else 1.
    A zero context (a first event) has nothing to keep and is left as it is.

    >>> surprise_keep(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 0.0]]))
    array([1. , 0.1], dtype=float32)
    """
    cosine = np.einsum("nd,nd->n", item_unit, context_unit)
    has_context = np.einsum("nd,nd->n", context_unit, context_unit) > 0
    far = has_context & (cosine < SURPRISE_COSINE)
    keep: Vector = np.where(far, SURPRISE_KEEP, 1.0).astype(np.float32)
    return keep


@dataclass(slots=True)
class UserVector:
    """A user's short-term vector and the event time it is valid at."""

    vector: Vector
    ts: float | None = None

    @classmethod
    def empty(cls, dim: int) -> UserVector:
        return cls(np.zeros(dim, dtype=np.float32), None)


class ShortTermInterest:
    """Updates a :class:`UserVector` with one event in O(dim).

    >>> import numpy as np
    >>> learner = ShortTermInterest(half_life_s=10.0)
    >>> user = UserVector.empty(2)
    >>> user = learner.update(user, np.array([1.0, 0.0], np.float32), weight=1.0, ts=0.0)
    >>> user = learner.update(user, np.array([0.0, 1.0], np.float32), weight=1.0, ts=10.0)
    >>> user.vector.tolist()
    [0.5, 1.0]
    """

    def __init__(self, half_life_s: float) -> None:
        if not half_life_s > 0 or not math.isfinite(half_life_s):
            raise ValueError("half_life_s must be positive")
        self.half_life_s = half_life_s
        # river's running mean tracks the typical decay so callers can log it.
        self.mean_decay = stats.Mean()

    def decay(self, previous_ts: float | None, ts: float) -> float:
        """Fraction of the old interest that survives until ``ts``."""
        if previous_ts is None:
            return 0.0
        elapsed = max(0.0, ts - previous_ts)
        return math.pow(0.5, elapsed / self.half_life_s)

    def update(self, user: UserVector, item_vector: Vector, weight: float, ts: float) -> UserVector:
        """Decay the old interest to ``ts`` and add the item, weighted.

        Out-of-order events (``ts`` before the user's time) do not decay the
        vector and do not move its time backwards.
        """
        factor = self.decay(user.ts, ts)
        self.mean_decay.update(factor)
        vector = user.vector * np.float32(factor) + np.float32(weight) * item_vector
        new_ts = ts if user.ts is None else max(user.ts, ts)
        return UserVector(vector.astype(np.float32, copy=False), new_ts)

    def decayed(self, user: UserVector, ts: float) -> Vector:
        """The user's vector as seen at ``ts`` (for scoring without an event)."""
        return user.vector * np.float32(self.decay(user.ts, ts))


def rebase(recent_item_vectors: Vector, norm: float, decay_per_item: float = 0.8) -> Vector:
    """A short-term vector rebuilt under a new item table from the recent items.

    The old vector lives in the old table's space; what survives a model swap
    is which items the user touched, most recent first. They are summed with
    a geometric decay and scaled to the old vector's length.

    >>> rebase(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32), norm=2.0).round(3).tolist()
    [1.562, 1.25]
    """
    if recent_item_vectors.shape[0] == 0:
        return np.zeros(recent_item_vectors.shape[1], np.float32)
    weights = np.power(decay_per_item, np.arange(recent_item_vectors.shape[0]), dtype=np.float32)
    summed = weights @ recent_item_vectors
    length = float(np.linalg.norm(summed))
    scaled: Vector = (summed * (norm / length) if length > 0 else summed).astype(np.float32)
    return scaled


def unit(vector: Vector) -> Vector:
    """``vector`` scaled to length 1; the zero vector stays zero.

    >>> unit(np.array([3.0, 4.0])).tolist()
    [0.6, 0.8]
    """
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
