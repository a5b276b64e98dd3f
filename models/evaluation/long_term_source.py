"""Where the streaming variants get a user's long-term vector from.

``refresh``: the vector the trainer wrote at the latest refresh (what the
design's worker reads from Redis; stale between refreshes). ``event``: the
latest refreshed GRU run over the user's history as it is now, as a worker
that steps the published GRU on every event would have it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from models.evaluation.catalog import Catalog
from models.evaluation.long_term_refresh import LongTermRefresh
from models.long_term import pad_sequences

LongTermMode = Literal["refresh", "event"]
MODES: tuple[LongTermMode, ...] = ("refresh", "event")


class LongTermSource:
    """The latest refresh, and each user's long-term vector under ``mode``."""

    def __init__(
        self, mode: LongTermMode, sequences: Mapping[str, Sequence[str]], catalog: Catalog
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"long-term mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.sequences = sequences
        self.catalog = catalog
        self.refresh: LongTermRefresh | None = None
        self._cache: dict[str, tuple[int, np.ndarray]] = {}

    def refreshed(self, refresh: LongTermRefresh) -> None:
        self.refresh = refresh
        self._cache.clear()

    def vector(self, user_id: str) -> np.ndarray | None:
        """The user's long-term vector now; None before the user's first refresh."""
        if self.refresh is None:
            return None
        if self.mode == "refresh":
            return self.refresh.user_vectors.get(user_id)
        sequence = self.sequences.get(user_id, ())
        cached = self._cache.get(user_id)
        if cached is None or cached[0] != len(sequence):
            cached = (len(sequence), self._infer(sequence))
            self._cache[user_id] = cached
        return cached[1] if len(sequence) else None

    @torch.no_grad()
    def _infer(self, sequence: Sequence[str]) -> np.ndarray:
        assert self.refresh is not None
        model = self.refresh.model
        n_items, max_len = model.config.n_items, model.config.max_len
        rows = [self.catalog.get_index(item) for item in sequence[-4 * max_len :]]
        ids = [row + 1 for row in rows if row is not None and row < n_items][-max_len:]
        if not ids:
            return np.zeros(model.config.dim, np.float32)
        seqs, lengths = pad_sequences([ids], max_len)
        device = model.item_vectors().device
        vector: np.ndarray = model.user_vectors(seqs.to(device), lengths)[0].float().cpu().numpy()
        return vector
