"""Signals that move a user's short-term interest without naming an item (searches).

The short-term vector is a time-decayed weighted sum, so a signal's part of it
does not depend on when the item events around it were added: a search at
``t`` adds ``w · q · 2^(−(T − t)/h)`` to the vector at the user's latest time
``T``. The worker folds a batch's item events first, then adds its searches
with :func:`add_signals`; for events in time order this equals folding them
interleaved. (What differs: the item events after a search in the same batch
learned their item vectors against a context without it.)
"""

from __future__ import annotations

import numpy as np

from models.short_term import UserVector


def add_signals(
    user: UserVector, vectors: np.ndarray, weights: np.ndarray, ts: np.ndarray, half_life_s: float
) -> UserVector:
    """``user`` with signals (rows of ``vectors``) added at their times, decayed to the latest.

    >>> u = UserVector(np.array([1.0, 0.0], np.float32), 0.0)
    >>> v = add_signals(u, np.array([[0.0, 1.0]], np.float32), np.ones(1), np.array([10.0]), 10.0)
    >>> v.vector.tolist(), v.ts
    ([0.5, 1.0], 10.0)
    """
    if not len(vectors):
        return user
    latest = float(ts.max()) if user.ts is None else max(user.ts, float(ts.max()))
    decay = np.exp2(-np.maximum(0.0, latest - ts) / half_life_s) * weights
    vector = (decay.astype(np.float32) @ vectors.astype(np.float32)).astype(np.float32)
    if user.ts is not None:
        vector += user.vector * np.float32(np.exp2(-max(0.0, latest - user.ts) / half_life_s))
    return UserVector(vector.astype(np.float32), latest)
