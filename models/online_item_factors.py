"""Online matrix factorisation of item vectors against users' interest.

Until the long-term model publishes item embeddings, items learn online: each
event pulls the chosen item towards the user's current interest (logistic loss,
label 1, or 0 for negative event types) and pushes one sampled item away. The
gradient step is river's SGD optimizer, applied to numpy rows in place.
"""

from __future__ import annotations

import numpy as np
from river import optim

from models.item_table import ItemTable
from models.short_term import unit


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0))))


class OnlineItemFactors:
    """One SGD step per event on the item table; O(dim) per call.

    >>> import numpy as np
    >>> table = ItemTable(dim=4, seed=1)
    >>> learner = OnlineItemFactors(table, learning_rate=0.5, l2=0.0)
    >>> user = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    >>> before = float(table.vector("a") @ user)
    >>> _ = learner.learn(user, "a", weight=1.0, negative="b")
    >>> float(table.vector("a") @ user) > before
    True
    """

    def __init__(self, table: ItemTable, learning_rate: float, l2: float) -> None:
        self.table = table
        self.l2 = l2
        self.optimizer = optim.SGD(learning_rate)
        self.loss = optim.losses.Log()

    def learn(
        self, user_vector: np.ndarray, item_id: str, weight: float, negative: str | None
    ) -> list[str]:
        """Update the chosen item (and one negative); return the ids changed."""
        context = unit(user_vector)
        if not context.any():
            return []
        changed = [item_id]
        self._step(context, item_id, label=weight > 0, scale=abs(weight))
        if negative is not None and negative != item_id:
            self._step(context, negative, label=False, scale=1.0)
            changed.append(negative)
        return changed

    def _step(self, context: np.ndarray, item_id: str, label: bool, scale: float) -> None:
        row = self.table.vector(item_id)
        score = float(row @ context)
        # river's Log loss takes labels in {False, True} and a raw score.
        slope = float(self.loss.gradient(label, score))
        gradient = (scale * slope) * context + self.l2 * row
        self.optimizer.step(row, gradient.astype(np.float32))

    def steps(
        self, contexts: np.ndarray, rows: np.ndarray, labels: np.ndarray, scales: np.ndarray
    ) -> np.ndarray:
        """The SGD changes of many item rows against unit ``contexts``, computed
        from the table as it is (not applied): ``table.matrix[rows] += steps``.

        The same step as :meth:`learn` takes, for a batch that applies its
        changes only once the users behind them are committed.
        """
        current = self.table.matrix[rows]
        scores = np.einsum("nd,nd->n", current, contexts)
        slopes = self.loss.gradient(labels.astype(np.float64), scores)
        gradients = (scales * slopes)[:, None] * contexts + self.l2 * current
        out: np.ndarray = (-self.optimizer.learning_rate * gradients).astype(np.float32)
        return out


def sampled_rows(n_rows: int, key: int, count: int, first: int = 0) -> np.ndarray:
    """``count`` deterministic pseudo-random rows for ``key`` (e.g. an event offset).

    Draw ``first + i`` of a key is the same whoever asks, so callers that
    want different items from one key ask for different draws.

    >>> sampled_rows(10, key=3, count=2).tolist() == sampled_rows(10, key=3, count=3)[:2].tolist()
    True
    """
    n = max(n_rows, 1)
    draws = np.arange(first, first + count, dtype=np.int64)
    rows: np.ndarray = ((key * 2654435761) % n + draws * 40503) % n  # no int64 overflow
    return rows


def sampled_rows_many(n_rows: int, keys: np.ndarray, count: int, first: int = 0) -> np.ndarray:
    """:func:`sampled_rows` for many keys: one row of draws per key.

    >>> sampled_rows_many(10, np.array([3, 4]), 2).tolist() == [
    ...     sampled_rows(10, 3, 2).tolist(), sampled_rows(10, 4, 2).tolist()]
    True
    """
    n = max(n_rows, 1)
    draws = np.arange(first, first + count, dtype=np.int64)
    base = (np.asarray(keys, dtype=np.int64) % n) * (2654435761 % n) % n
    rows: np.ndarray = (base[:, None] + draws[None, :] * 40503) % n
    return rows


def sample_negative(table: ItemTable, key: int) -> str | None:
    """A deterministic pseudo-random item for ``key`` (draw 0)."""
    if len(table) < 2:
        return None
    return table.ids[int(sampled_rows(len(table), key, 1)[0])]
