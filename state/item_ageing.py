"""Item state in Redis ages out, so it is bounded by what is in use, not by every id ever seen.

Workers note when an event last named an item (``items:seen``, a sorted set
by epoch seconds, written at most once per item per sweep interval) and when
the catalogue marked an item unavailable (``items:gone-at``). A sweep
(``age_items.lua``, idempotent, run by every worker on a timer) deletes:

- the online vector (``items:online``) of an item no event named for the TTL;
  an event naming it later starts it again from its initial vector;
- the catalogue entry (``items:meta``), online vector and unavailable flag of
  an item unavailable for the TTL (one made available again leaves the set).

Items present before this existed carry no date and are never swept, until
an event or a catalogue update dates them. Vectors of a trained model
version go with the version (:mod:`state.model_registry`'s GC).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from importlib import resources

from state.connection import AsyncClient
from state.keys import KeyLayout

AGE_SCRIPT = resources.files("state").joinpath("age_items.lua").read_text()
ONLINE = "online"
SWEEP_LIMIT = 1000
"""Most ids of each kind one sweep call removes (a call stays short on a large backlog)."""


def seen_key(keys: KeyLayout) -> str:
    return f"{keys.prefix}items:seen"


def gone_at_key(keys: KeyLayout) -> str:
    return f"{keys.prefix}items:gone-at"


class ItemAgeing:
    """Dates items and sweeps those past ``ttl_s``; Redis errors propagate to the caller."""

    def __init__(self, client: AsyncClient, keys: KeyLayout, ttl_s: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self._script = client.register_script(AGE_SCRIPT)

    async def mark(
        self,
        seen: Iterable[str] = (),
        gone: Iterable[str] = (),
        back: Iterable[str] = (),
        now: float | None = None,
    ) -> None:
        """Items named by events (``seen``), marked unavailable (``gone``) or available
        again (``back``), at ``now``."""
        at = time.time() if now is None else now
        seen, gone, back = list(seen), list(gone), list(back)
        if not (seen or gone or back):
            return
        async with self.client.pipeline(transaction=False) as pipe:
            if seen:
                pipe.zadd(seen_key(self.keys), dict.fromkeys(seen, at))
            if gone:  # the first mark counts: a repeated "unavailable" does not restart it
                pipe.zadd(gone_at_key(self.keys), dict.fromkeys(gone, at), nx=True)
            if back:
                pipe.zrem(gone_at_key(self.keys), *back)
            await pipe.execute()

    async def sweep(self, now: float | None = None) -> tuple[int, int]:
        """Remove what aged out: (items, catalogue entries), each run until done."""
        cutoff = (time.time() if now is None else now) - self.ttl_s
        k = self.keys
        keys = [seen_key(k), k.items(ONLINE), gone_at_key(k), k.item_meta(), k.unavailable()]
        items = entries = 0
        while True:
            raw = await self._script(keys=keys, args=[repr(cutoff), SWEEP_LIMIT])
            a, b = (int(x) for x in raw)
            items, entries = items + a, entries + b
            if a < SWEEP_LIMIT and b < SWEEP_LIMIT:
                return items, entries
