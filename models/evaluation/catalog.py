"""The catalogue seen so far: item ids in order of first appearance, never reordered."""

from __future__ import annotations

from collections.abc import Iterable


class Catalog:
    """Item id ↔ row, append-only, like the rows of an :class:`~models.ItemTable`.

    >>> catalog = Catalog(["a", "b"])
    >>> catalog.add("c"), catalog.add("a"), catalog.get_index("z"), len(catalog)
    (2, 0, None, 3)
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.ids: list[str] = []
        self._index: dict[str, int] = {}
        for item_id in ids:
            self.add(item_id)

    def __len__(self) -> int:
        return len(self.ids)

    def get_index(self, item_id: str) -> int | None:
        return self._index.get(item_id)

    def add(self, item_id: str) -> int:
        """The row of ``item_id``, appending it when new."""
        row = self._index.get(item_id)
        if row is None:
            row = len(self.ids)
            self.ids.append(item_id)
            self._index[item_id] = row
        return row
