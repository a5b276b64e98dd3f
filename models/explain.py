"""Why an item is recommended: each part's share of its score, and the recent item it is like.

A blended score is ``item · (w·lt + (1 − w)·st)`` with ``lt``/``st`` the unit
long- and short-term vectors, so it splits exactly into a long-term part
``w·(item·lt)`` and a short-term part ``(1 − w)·(item·st)``. The share shown is
each part's positive contribution over their sum: a part that scores the item
below zero contributed nothing to it being chosen. When neither part is
positive (a tiny catalogue can push such items into the list), the shares are
the mix weights themselves.

Only the recommended items are explained, so the cost is ``users × k ×
(recent + 2) × dim``, small beside ranking the catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from models.blend import unit_rows


@dataclass(frozen=True, slots=True)
class InterestParts:
    """Each user's two vectors (zero row = missing) and long-term weight, as ranked."""

    long_term: np.ndarray  # (users, dim)
    short_term: np.ndarray  # (users, dim)
    weights: np.ndarray  # (users,) weight of the long-term side, missing sides resolved


@dataclass(frozen=True, slots=True)
class Explanations:
    long_share: np.ndarray
    """(users, k): share of each recommended item's score from the long-term part."""
    nearest: np.ndarray
    """(users, k): row of the user's recent item most like each one; -1 when none."""


def effective_weights(
    long_term: np.ndarray, short_term: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """The long-term weight as :func:`models.blend.blend_rows` applies it: a missing side gets 0.

    >>> effective_weights(np.array([[1.0], [0.0], [1.0]]), np.array([[1.0], [1.0], [0.0]]),
    ...                   np.array([0.3, 0.3, 0.3])).tolist()
    [0.3, 0.0, 1.0]
    """
    has_lt = np.linalg.norm(long_term, axis=1) > 0
    has_st = np.linalg.norm(short_term, axis=1) > 0
    resolved: np.ndarray = np.where(has_lt & has_st, weights, np.where(has_lt, 1.0, 0.0))
    return resolved


def explain(
    parts: InterestParts,
    items: np.ndarray,
    best: np.ndarray,
    recent_rows: Sequence[Sequence[int]] | np.ndarray,
) -> Explanations:
    """Explanations of the rows in ``best`` (users × k, -1 = padding).

    ``recent_rows[u]`` are the item rows of user ``u``'s recent items to compare
    with (newest first; ties go to the newest); as an array (users × depth),
    rows padded with -1 at the end.

    >>> items = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], np.float32)
    >>> parts = InterestParts(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), np.array([0.25]))
    >>> why = explain(parts, items, np.array([[2, 0]]), [[1]])
    >>> why.long_share.round(2).tolist(), why.nearest.tolist()
    ([[0.25, 1.0]], [[1, 1]])
    """
    users, k = best.shape
    if not len(items):  # nothing was ranked (an empty table: only follows or searches yet)
        return Explanations(np.zeros((users, k), np.float32), np.full((users, k), -1))
    valid = best >= 0
    lt, _ = unit_rows(parts.long_term.astype(np.float32, copy=False))
    st, _ = unit_rows(parts.short_term.astype(np.float32, copy=False))
    rows = np.where(valid, best, 0)
    long_dots, _ = dots_of(rows, lt, items)
    short_dots, chosen = dots_of(rows, st, items)
    w = parts.weights.astype(np.float32)[:, None]
    long_part = np.maximum(w * long_dots, 0.0)
    short_part = np.maximum((1.0 - w) * short_dots, 0.0)
    total = long_part + short_part
    share = np.where(
        total > 0, long_part / np.where(total > 0, total, 1.0), np.broadcast_to(w, total.shape)
    )
    share = np.where(valid, share, 0.0)
    nearest = nearest_recent(items, best, recent_rows, chosen)
    return Explanations(share.astype(np.float32), nearest)


def dots_of(
    rows: np.ndarray, vectors: np.ndarray, matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Each user's (``vectors`` row's) dot product with the ``matrix`` rows of ``rows``
    (users × k), and those rows gathered (users × k × dim) if they were.

    A matrix of at most ``k × dim`` rows is scored whole (one product, a smaller array
    than the users' gathered rows); a larger one through its gathered rows.
    """
    if matrix.shape[0] <= rows.shape[1] * matrix.shape[1]:
        return np.take_along_axis(vectors @ matrix.T, rows, axis=1), None
    chosen = matrix[rows]
    return np.matmul(chosen, vectors[:, :, None])[:, :, 0], chosen


def padded_rows(rows: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Row lists as one array (lists × longest), padded with -1 at the end.

    >>> padded_rows([[2, 0], [], [1]]).tolist()
    [[2, 0], [-1, -1], [1, -1]]
    """
    if isinstance(rows, np.ndarray):
        return rows.astype(np.intp, copy=False)
    lengths = np.fromiter((len(r) for r in rows), np.intp, len(rows))
    depth = int(lengths.max()) if len(rows) else 0
    out = np.full((len(rows), depth), -1, np.intp)
    if depth:
        flat = np.fromiter(chain.from_iterable(rows), np.intp, int(lengths.sum()))
        owner = np.repeat(np.arange(len(rows)), lengths)
        out[owner, np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)] = flat
    return out


COSINE_TABLE_SHARE = 4
"""Items² at most this many times (users × k × recent): :func:`nearest_recent` computes
every item pair's cosine once (one product) instead of each user's pairs."""


def nearest_recent(
    items: np.ndarray,
    best: np.ndarray,
    recent_rows: Sequence[Sequence[int]] | np.ndarray,
    chosen: np.ndarray | None = None,
) -> np.ndarray:
    """Per entry of ``best`` (users × k, -1 = padding): the row of the user's recent item
    (:func:`explain`'s ``recent_rows``) most like it by cosine; -1 when none.

    ``chosen`` is ``items`` of ``best`` (-1 read as row 0) when the caller has it.
    """
    users, k = best.shape
    padded = padded_rows(recent_rows)
    depth = padded.shape[1] if padded.ndim == 2 else 0
    if not (depth and users and len(items)):
        return np.full((users, k), -1, np.intp)
    valid = best >= 0
    rows = np.where(valid, best, 0)
    has = padded >= 0
    recent = np.where(has, padded, 0)
    if len(items) ** 2 <= COSINE_TABLE_SHARE * users * k * depth:
        # A small catalogue: every pair's cosine once, then looked up.
        unit, _ = unit_rows(items)
        cosines = unit @ unit.T
        similarity = cosines[rows[:, :, None], recent[:, None, :]]
    else:
        chosen = items[rows] if chosen is None else chosen
        chosen_unit, _ = unit_rows(chosen.reshape(users * k, -1))
        recent_unit, _ = unit_rows(items[recent].reshape(users * depth, -1))
        similarity = np.matmul(
            chosen_unit.reshape(users, k, -1),
            recent_unit.reshape(users, depth, -1).transpose(0, 2, 1),
        )
    similarity = np.where(has[:, None, :], similarity, -np.inf)
    best_recent = np.argmax(similarity, axis=2)  # first maximum: the newest
    found = valid & (padded[:, :1] >= 0)  # rows are filled from the front
    nearest: np.ndarray = np.where(found, np.take_along_axis(padded, best_recent, axis=1), -1)
    return nearest
