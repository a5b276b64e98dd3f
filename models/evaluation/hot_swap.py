"""What a worker does when a new long-term model is published, as pure functions.

The item table takes over the model's item vectors in place (rows it does not
know keep their online vectors), and each user's short-term vector, which
lives in the old item space, is rebuilt from the items the user holds in
``recent`` by the worker's own :func:`models.short_term.rebase`. Items that
arrive after the swap start near zero in the new space
(:data:`~models.item_table.TRAINED_SPACE_NEW_ITEM_SCALE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from models.interest_model import UserInterest
from models.item_table import TRAINED_SPACE_NEW_ITEM_SCALE, ItemTable
from models.short_term import UserVector, rebase


def swap_item_vectors(items: ItemTable, ids: Sequence[str], vectors: np.ndarray) -> None:
    """Overwrite (or add) the vectors of ``ids``; row order is kept.

    >>> table = ItemTable(dim=2, seed=0)
    >>> _ = table.index_of("a")
    >>> swap_item_vectors(table, ["a"], np.array([[1.0, 2.0]], np.float32))
    >>> table.vector("a").tolist()
    [1.0, 2.0]
    """
    items.load(zip(ids, vectors, strict=True))
    items.new_item_scale = TRAINED_SPACE_NEW_ITEM_SCALE


def rebase_short_term(user: UserInterest, items: ItemTable) -> UserInterest:
    """The user's short-term vector rebuilt under ``items`` as the worker rebuilds it.

    The recent items the table knows, newest first, go to
    :func:`models.short_term.rebase` with its default decay and the old
    vector's length, exactly the worker's call (an item the table lacks
    takes no place in the decay). The event time is kept, so time decay goes
    on from where it was.

    >>> table = ItemTable(dim=2, seed=0)
    >>> table.load({"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])})
    >>> old = UserVector(np.array([0.0, 2.0], np.float32), ts=5.0)
    >>> rebased = rebase_short_term(UserInterest(old, recent=("b", "zz", "a")), table)
    >>> rebased.short_term.vector.astype(float).round(3).tolist(), rebased.short_term.ts
    ([1.249, 1.562], 5.0)
    """
    rows = [row for row in map(items.get_index, user.recent) if row is not None]
    recent = items.matrix[rows] if rows else np.zeros((0, items.dim), np.float32)
    vector = rebase(recent, float(np.linalg.norm(user.short_term.vector)))
    return replace(user, short_term=UserVector(vector, user.short_term.ts))
