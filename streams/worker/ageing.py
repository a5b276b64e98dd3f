"""Dates the items a worker's events name and its catalogue marks, for Redis's ageing
(:mod:`state.item_ageing`): gathered in memory, written and swept on a timer."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import redis.exceptions as rex

from state.item_ageing import ItemAgeing

log = logging.getLogger(__name__)


class AgeingTracker:
    """What changed since the last flush: items chosen, availability marks."""

    def __init__(self, ageing: ItemAgeing) -> None:
        self.ageing = ageing
        self.seen: set[str] = set()
        self.available: dict[str, bool] = {}

    def saw(self, item_ids: Iterable[str]) -> None:
        self.seen.update(item_ids)

    def marked(self, available: Mapping[str, bool]) -> None:
        self.available.update(available)

    async def flush(self) -> tuple[int, int]:
        """Date what was gathered, then sweep: (items, catalogue entries) aged out.
        Redis out: keep everything for the next tick."""
        seen, self.seen = self.seen, set()
        marks, self.available = self.available, {}
        try:
            await self.ageing.mark(
                seen,
                gone=[i for i, ok in marks.items() if not ok],
                back=[i for i, ok in marks.items() if ok],
            )
            items, entries = await self.ageing.sweep()
        except (rex.RedisError, OSError) as exc:
            self.seen |= seen
            self.available = {**marks, **self.available}
            log.warning("item ageing postponed: %s", exc)
            return 0, 0
        if items or entries:
            log.info("aged out %d item vectors and %d catalogue entries", items, entries)
        return items, entries
