"""The item vectors a worker scores against: one dense float32 matrix."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np


def initial_item_vector(item_id: str, dim: int, seed: int) -> np.ndarray:
    """A deterministic start vector, so every worker invents the same one.

    >>> a = initial_item_vector("sku-1", 4, seed=7)
    >>> bool((a == initial_item_vector("sku-1", 4, seed=7)).all())
    True
    >>> round(float(np.linalg.norm(initial_item_vector("x", 256, 1))), 1)
    1.0
    """
    digest = hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    vector: np.ndarray = (rng.standard_normal(dim) / np.sqrt(dim)).astype(np.float32)
    return vector


TRAINED_SPACE_NEW_ITEM_SCALE = 0.01
"""Start length of an item a published model does not know, relative to unit length.

A unit-length random start suits the online-only space, but in a trained
model's space (where most scores are negative) it would rank above nearly
every known item, so thousands of new items would crowd every list: new
items start near-neutral there, as the trainer grows new rows."""


class ItemTable:
    """Item ids and their vectors; rows are appended, never reordered.

    >>> table = ItemTable(dim=2, seed=0)
    >>> table.index_of("a"), table.index_of("b"), table.index_of("a")
    (0, 1, 0)
    >>> table.matrix.shape
    (2, 2)
    """

    def __init__(
        self, dim: int, seed: int, capacity: int = 1024, new_item_scale: float = 1.0
    ) -> None:
        self.dim = dim
        self.seed = seed
        self.new_item_scale = new_item_scale
        self.ids: list[str] = []
        self._index: dict[str, int] = {}
        self._rows = np.zeros((capacity, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    @property
    def matrix(self) -> np.ndarray:
        """A view of the live rows, shape ``(len(self), dim)``."""
        return self._rows[: len(self.ids)]

    def get_index(self, item_id: str) -> int | None:
        return self._index.get(item_id)

    def rows_of(self, item_ids: Iterable[str]) -> list[int]:
        """The rows of the known ones of ``item_ids``, in order."""
        return [row for row in map(self._index.get, item_ids) if row is not None]

    def index_of(self, item_id: str) -> int:
        """The row of ``item_id``, adding it with its initial vector if new."""
        row = self._index.get(item_id)
        if row is None:
            start = initial_item_vector(item_id, self.dim, self.seed)
            row = self._append(item_id, np.float32(self.new_item_scale) * start)
        return row

    def vector(self, item_id: str) -> np.ndarray:
        row = self.index_of(item_id)  # may grow (replace) the row array
        vector: np.ndarray = self._rows[row]
        return vector

    def set_vector(self, item_id: str, vector: np.ndarray) -> None:
        row = self._index.get(item_id)
        if row is None:
            self._append(item_id, vector)
        else:
            self._rows[row] = vector

    def load(self, vectors: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]]) -> None:
        """Overwrite or add many vectors at once (a reload from the store)."""
        pairs = vectors.items() if isinstance(vectors, Mapping) else vectors
        for item_id, vector in pairs:
            if vector.shape == (self.dim,):
                self.set_vector(item_id, vector)

    def _append(self, item_id: str, vector: np.ndarray) -> int:
        row = len(self.ids)
        if row == self._rows.shape[0]:
            grown = np.zeros((max(1, row * 2), self.dim), dtype=np.float32)
            grown[:row] = self._rows
            self._rows = grown
        self._rows[row] = vector
        self.ids.append(item_id)
        self._index[item_id] = row
        return row
