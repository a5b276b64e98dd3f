"""Item ids ↔ the GRU's rows, append-only, so a warm start keeps every id where it was."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Histories = Mapping[str, Sequence[str]]
"""User id → the items they chose, oldest first."""


@dataclass
class Vocabulary:
    """Item ids ↔ the GRU's rows 1..n (0 is padding); only ever grows.

    >>> vocab = Vocabulary.grown(None, {"u": ["a", "b", "a"]})
    >>> vocab.encode(["b", "zz", "a"]), len(vocab), vocab.get_index("b")
    ([2, 1], 2, 1)
    """

    ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def grown(cls, previous: Vocabulary | None, histories: Histories) -> Vocabulary:
        """``previous`` (or an empty vocabulary) with the new items of ``histories`` appended."""
        vocab = cls(list(previous.ids), dict(previous.rows)) if previous else cls()
        for items in histories.values():
            for item in items:
                if item not in vocab.rows:
                    vocab.ids.append(item)
                    vocab.rows[item] = len(vocab.ids)
        return vocab

    def get_index(self, item_id: str) -> int | None:
        """The 0-based table row (GRU id − 1), as item tables number them."""
        row = self.rows.get(item_id)
        return None if row is None else row - 1

    def encode(self, items: Sequence[str]) -> list[int]:
        """Rows of the known items, unknown ones dropped."""
        return [self.rows[i] for i in items if i in self.rows]
