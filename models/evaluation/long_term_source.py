"""Where the streaming variants get a user's long-term vector from.

``event`` (the worker's way): the latest refresh's GRU state for the user,
stepped once per event since (:mod:`models.gru_step`), so the vector follows
the user's latest item. ``refresh``: the vector the trainer wrote at the
latest refresh, frozen until the next one (a worker without the GRU step).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from models.evaluation.catalog import Catalog
from models.long_term.fit import LongTermRefresh

LongTermMode = Literal["refresh", "event"]
MODES: tuple[LongTermMode, ...] = ("refresh", "event")


class LongTermSource:
    """The latest refresh, and each user's long-term vector under ``mode``."""

    def __init__(self, mode: LongTermMode, catalog: Catalog) -> None:
        if mode not in MODES:
            raise ValueError(f"long-term mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.catalog = catalog
        self.refresh: LongTermRefresh | None = None
        self._states: dict[str, np.ndarray] = {}
        self._vectors: dict[str, np.ndarray] = {}

    def refreshed(self, refresh: LongTermRefresh) -> None:
        self.refresh = refresh
        self._states = dict(refresh.user_states)
        self._vectors = dict(refresh.user_vectors)

    def learn(self, user_id: str, item_id: str, weight: float) -> None:
        """Step the user's GRU state with a chosen item the model knows (``event`` mode)."""
        if self.mode != "event" or self.refresh is None or weight <= 0:
            return
        row = self.catalog.get_index(item_id)
        if row is None or row >= self.refresh.item_vectors.shape[0]:
            return  # newer than the model: it has no embedding to step with
        stepper = self.refresh.stepper
        state = stepper.run(self.refresh.item_vectors[row : row + 1], self._states.get(user_id))
        self._states[user_id] = state
        self._vectors[user_id] = stepper.output(state)

    def vector(self, user_id: str) -> np.ndarray | None:
        """The user's long-term vector now; None before the model knows anything of them."""
        return self._vectors.get(user_id)
