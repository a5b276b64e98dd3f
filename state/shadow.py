"""Where a shadow candidate's live figures meet: workers add to them, the trainer decides.

Five running sums per candidate version, as plain counters (``INCRBY`` and
``INCRBYFLOAT``, already granted by the service's ACL line), one hash slot per
version. Workers add a batch's sums in one pipeline; a lost or repeated add
after an outage only changes how many events were scored, never which version
they favour, so adds are best-effort.
"""

from __future__ import annotations

import redis.exceptions as rex

from models.shadow import ShadowTally
from state.connection import AsyncClient, SyncClient
from state.errors import StoreUnavailable, is_outage
from state.keys import KeyLayout

FIELDS = ("events", "current_ndcg", "candidate_ndcg", "current_hits", "candidate_hits")


def _tally(values: list[bytes | None]) -> ShadowTally:
    events, cur, cand, cur_hits, cand_hits = (float(v) if v else 0.0 for v in values)
    return ShadowTally(int(events), cur, cand, int(cur_hits), int(cand_hits))


class ShadowBook:
    """The workers' side: which version is in the shadow, and adding to its figures."""

    def __init__(self, client: AsyncClient, keys: KeyLayout) -> None:
        self.client = client
        self.keys = keys

    async def version(self) -> str | None:
        try:
            raw = await self.client.get(self.keys.model_shadow())
        except rex.RedisError as exc:
            if is_outage(exc):
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
            raise
        return raw.decode() if isinstance(raw, bytes) and raw else None

    async def add(self, version: str, tally: ShadowTally) -> None:
        if not tally.events:
            return
        key = self.keys.shadow_tally
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.incrby(key(version, "events"), tally.events)
            pipe.incrbyfloat(key(version, "current_ndcg"), tally.current_ndcg)
            pipe.incrbyfloat(key(version, "candidate_ndcg"), tally.candidate_ndcg)
            pipe.incrby(key(version, "current_hits"), tally.current_hits)
            pipe.incrby(key(version, "candidate_hits"), tally.candidate_hits)
            await pipe.execute()


class ShadowStage:
    """The trainer's side: put a version in the shadow, read its figures, end it."""

    def __init__(self, client: SyncClient, keys: KeyLayout) -> None:
        self.client = client
        self.keys = keys

    def current(self) -> str | None:
        raw = self.client.get(self.keys.model_shadow())
        return raw.decode() if isinstance(raw, bytes) and raw else None

    def start(self, version: str) -> None:
        """Zero the version's figures, then point workers at it."""
        self.client.delete(*(self.keys.shadow_tally(version, f) for f in FIELDS))
        self.client.set(self.keys.model_shadow(), version)

    def tally(self, version: str) -> ShadowTally:
        pipe = self.client.pipeline(transaction=False)
        for field in FIELDS:
            pipe.get(self.keys.shadow_tally(version, field))
        return _tally(pipe.execute())

    def end(self, version: str) -> None:
        """Workers stop scoring ``version`` (the pointer is removed only if it still names it)."""
        if self.current() == version:
            self.client.delete(self.keys.model_shadow())

    def tally_keys(self, version: str) -> list[str]:
        return [self.keys.shadow_tally(version, f) for f in FIELDS]
