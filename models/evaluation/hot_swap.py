"""What a worker does when a new long-term model is published, as pure functions.

The item table takes over the model's item vectors in place (rows it does not
know keep their online vectors), and each user's short-term vector, which
lives in the old item space, is rebuilt from the items the user holds in
``recent``: the worker keeps no per-item times, so weights decay by position.
Items that arrive after the swap start near zero in the new space
(:data:`~models.item_table.TRAINED_SPACE_NEW_ITEM_SCALE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from models.interest_model import UserInterest
from models.item_table import TRAINED_SPACE_NEW_ITEM_SCALE, ItemTable
from models.short_term import UserVector


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


def rebase_short_term(user: UserInterest, items: ItemTable, decay: float) -> UserInterest:
    """Short-term vector ``Σ decay^i · item(recent[i])`` (i = 0 is the newest item).

    The event time is kept, so time decay goes on from where it was.

    >>> table = ItemTable(dim=2, seed=0)
    >>> table.load({"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])})
    >>> user = UserInterest(UserVector(np.zeros(2, np.float32), ts=5.0), recent=("b", "a"))
    >>> rebased = rebase_short_term(user, table, decay=0.5)
    >>> rebased.short_term.vector.tolist(), rebased.short_term.ts
    ([0.5, 1.0], 5.0)
    """
    vector = np.zeros(items.dim, dtype=np.float32)
    weight = 1.0
    for item_id in user.recent:
        row = items.get_index(item_id)
        if row is not None:
            vector += np.float32(weight) * items.matrix[row]
        weight *= decay
    return replace(user, short_term=UserVector(vector, user.short_term.ts))
