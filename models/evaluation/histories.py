"""What the replay has seen of each user: recent rows to exclude, and item sequences."""

from __future__ import annotations

from collections import defaultdict


class Histories:
    """Per user: the last ``recent_items`` distinct rows (newest first, as the worker
    keeps them), every row seen, and the positive events' item ids in order.

    >>> h = Histories(recent_items=2, exclude_seen=False)
    >>> for row, item in [(0, "a"), (1, "b"), (0, "a"), (2, "c")]:
    ...     h.record("u", row, item, weight=1.0)
    >>> sorted(h.excluded("u")), h.sequences["u"]
    ([0, 2], ['a', 'b', 'a', 'c'])
    """

    def __init__(self, recent_items: int, exclude_seen: bool) -> None:
        self.recent_items = recent_items
        self.exclude_seen = exclude_seen
        self.recent: dict[str, list[int]] = {}
        self.seen: defaultdict[str, set[int]] = defaultdict(set)
        self.sequences: dict[str, list[str]] = {}

    def excluded(self, user_id: str) -> set[int]:
        """Rows the worker would not recommend to the user now."""
        if self.exclude_seen:
            return self.seen.get(user_id, set())
        return set(self.recent.get(user_id, ()))

    def record(self, user_id: str, row: int, item_id: str, weight: float) -> None:
        recent = self.recent.get(user_id, [])
        self.recent[user_id] = [row, *(r for r in recent if r != row)][: self.recent_items]
        self.seen[user_id].add(row)
        if weight > 0:
            self.sequences.setdefault(user_id, []).append(item_id)
