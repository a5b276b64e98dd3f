"""The item vectors a worker scores against: one dense float32 matrix."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain, repeat

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


EVICT_SHARE = 16
"""A full table picks its next victims in bulk: the least recently seen 1/16 of its rows."""


class ItemTable:
    """Item ids and their vectors; rows are appended, never reordered.

    With ``max_items``, a full table gives a new item the row of the least
    recently seen one (seen: asked for by :meth:`index_of`, as every event's
    item is), so an endless stream of new item ids does not grow a worker's
    memory without bound. Rows keep their numbers (a row's item changes);
    ``on_recycle(row, old_id)`` tells the owner, whose row-keyed state
    (unavailable rows, trending) must forget the old item. Rows seen since the
    last :meth:`begin_batch` are never taken: a batch with more distinct items
    than the cap grows the table past it instead.

    >>> table = ItemTable(dim=2, seed=0)
    >>> table.index_of("a"), table.index_of("b"), table.index_of("a")
    (0, 1, 0)
    >>> table.matrix.shape
    (2, 2)
    >>> small = ItemTable(dim=2, seed=0, max_items=2)
    >>> small.index_of("a"), small.index_of("b"), small.begin_batch(), small.index_of("b")
    (0, 1, None, 1)
    >>> small.index_of("c"), "a" in small, len(small)  # "a" was seen least recently
    (0, False, 2)
    """

    def __init__(
        self,
        dim: int,
        seed: int,
        capacity: int = 1024,
        new_item_scale: float = 1.0,
        max_items: int | None = None,
    ) -> None:
        self.dim = dim
        self.seed = seed
        self.new_item_scale = new_item_scale
        self.max_items = max_items
        self.ids: list[str] = []
        self._index: dict[str, int] = {}
        self._rows = np.zeros((capacity, dim), dtype=np.float32)
        self._seen = np.zeros(capacity, dtype=np.int64)  # per row: the batch it was last seen in
        self._batch = 1
        self._victims: list[int] = []
        self._victim_mark = 0
        self.on_recycle: Callable[[int, str], None] | None = None
        self.recycled = 0  # rows given to a new item so far

    def begin_batch(self) -> None:
        """Rows seen from now on belong to a new batch; older ones may be recycled."""
        self._batch += 1

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

    def indices_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """:meth:`index_of` of each id, in order, as an array.

        >>> table = ItemTable(dim=2, seed=0)
        >>> table.indices_of(["a", "b", "a"]).tolist()
        [0, 1, 0]
        """
        found = list(map(self._index.get, item_ids))
        try:  # up to the first new id, known rows: seen at once
            first_new = found.index(None)
        except ValueError:
            first_new = len(found)
        rows = np.fromiter(found[:first_new], np.intp, first_new)
        self._seen[rows] = self._batch
        if first_new == len(found):
            return rows
        # From the first new id on, one at a time: a new id may take a row (recycle)
        # that a later id of the list would have been seen in.
        rest = np.fromiter(map(self.index_of, item_ids[first_new:]), np.intp)
        return np.concatenate([rows, rest])

    def rows_padded(self, id_lists: Sequence[Sequence[str]], width: int) -> np.ndarray:
        """The rows of the known ones of each list's first ``width`` ids, in order, as one
        array (lists × width) padded with -1 at the end: :meth:`rows_of` of many lists.

        >>> table = ItemTable(dim=2, seed=0)
        >>> _ = table.index_of("a"), table.index_of("b")
        >>> table.rows_padded([("b", "x", "a"), (), ("a",)], 2).tolist()
        [[1, -1], [-1, -1], [0, -1]]
        """
        n = len(id_lists)
        full = np.fromiter(map(len, id_lists), np.intp, n)
        lengths = np.minimum(full, width)
        total = int(lengths.sum())
        if (full <= width).all():  # no list to cut
            taken: Iterable[str] = chain.from_iterable(id_lists)
        else:
            taken = chain.from_iterable(ids[:width] for ids in id_lists)
        flat = np.fromiter(map(self._index.get, taken, repeat(-1)), np.intp, total)
        out = np.full((n, width), -1, np.intp)
        starts = np.cumsum(lengths) - lengths
        out[np.repeat(np.arange(n), lengths), np.arange(total) - np.repeat(starts, lengths)] = flat
        if (flat < 0).any():  # unknown ids leave holes: the known rows move to the front
            out = np.take_along_axis(out, np.argsort(out < 0, axis=1, kind="stable"), axis=1)
        return out

    def index_of(self, item_id: str) -> int:
        """The row of ``item_id``, adding it with its initial vector if new."""
        row = self._index.get(item_id)
        if row is None:
            start = initial_item_vector(item_id, self.dim, self.seed)
            row = self._append(item_id, np.float32(self.new_item_scale) * start)
        self._seen[row] = self._batch
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
        """Overwrite or add many vectors at once (a reload from the store); never
        recycles a row for one (see the class)."""
        pairs = vectors.items() if isinstance(vectors, Mapping) else vectors
        for item_id, vector in pairs:
            if vector.shape != (self.dim,):
                continue
            row = self._index.get(item_id)
            if row is not None:
                self._rows[row] = vector
            elif self.max_items is None or len(self.ids) < self.max_items:
                # Loaded, not seen: first to go when the table is full. A full table
                # takes no more: an item left out starts from its initial vector
                # when an event asks for it, and the next reload overwrites that.
                row = self._append(item_id, vector)  # may grow _seen: index it after
                self._seen[row] = 0

    def _append(self, item_id: str, vector: np.ndarray) -> int:
        row = len(self.ids)
        if self.max_items is not None and row >= self.max_items:
            victim = self._victim()
            if victim is not None:
                return self._recycle(victim, item_id, vector)
        if row == self._rows.shape[0]:
            size = max(1, row * 2)
            grown = np.zeros((size, self.dim), dtype=np.float32)
            grown[:row] = self._rows
            self._rows = grown
            seen = np.zeros(size, dtype=np.int64)
            seen[:row] = self._seen[:row]
            self._seen = seen
        self._rows[row] = vector
        self._seen[row] = self._batch
        self.ids.append(item_id)
        self._index[item_id] = row
        return row

    def _victim(self) -> int | None:
        """The least recently seen row not seen in this batch (None: all are in use)."""
        while True:
            while self._victims:
                row = self._victims.pop()
                if self._seen[row] < self._batch and self._seen[row] <= self._victim_mark:
                    return row
            n = len(self.ids)
            take = max(1, n // EVICT_SHARE)
            seen = self._seen[:n]
            oldest = np.argpartition(seen, take - 1)[:take] if take < n else np.arange(n)
            oldest = oldest[seen[oldest] < self._batch]
            if not len(oldest):
                return None
            # Most recently seen first, so pop() takes the least recently seen.
            self._victims = oldest[np.argsort(-seen[oldest], kind="stable")].tolist()
            self._victim_mark = int(seen[oldest].max())

    def _recycle(self, row: int, item_id: str, vector: np.ndarray) -> int:
        old = self.ids[row]
        del self._index[old]
        self.ids[row] = item_id
        self._index[item_id] = row
        self._rows[row] = vector
        self._seen[row] = self._batch
        self.recycled += 1
        if self.on_recycle is not None:
            self.on_recycle(row, old)
        return row
