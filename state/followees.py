"""Whom a user follows: a bounded sorted set per user, and what the social part reads.

The set ``{prefix}user:{ID}:follows`` (docs/redis-layout.md) holds followee ids
scored by the time of the follow event; it shares the user's hash tag, so the
write script (``apply_user.lua``) changes it in the same atomic step as the
user's offset and under the same erasure fence: a follow is applied exactly
once, and ``forget`` deletes it with the rest. Past ``bound`` members the
oldest follows go. :func:`after_ops` is the same rule in Python, for the
worker that computes the social vector from the set as it will be.

Reading the followees' own vectors crosses slots (each followee has their own
hash tag): one pipelined ``HMGET`` per followee, which redis-py's cluster
pipeline routes to the right nodes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.exceptions as rex

from state.connection import AsyncClient
from state.errors import StoreUnavailable, is_outage
from state.keys import Field, KeyLayout

FOLLOWEE_FIELDS = (
    Field.LONG_TERM,
    Field.LONG_TERM_VERSION,
    Field.LONG_TERM_STATE,
    Field.LONG_TERM_STATE_VERSION,
    Field.SHORT_TERM,
    Field.MODEL_VERSION,
)
"""What the social part reads of each followee (the order of :class:`FolloweeRow`)."""


@dataclass(frozen=True, slots=True)
class FollowOp:
    """One follow (``follow`` True) or unfollow of ``target`` at ``ts``."""

    follow: bool
    target: str
    ts: float


def follow_values(ops: Sequence[FollowOp], bound: int) -> list[bytes]:
    """The write script's follow values: their count, then the bound and each op.

    A bound without ops still renews the set's TTL (the worker sends it when it
    refreshes the user's social vector); no bound and no ops leave the set alone.

    >>> follow_values([FollowOp(True, "b", 2.0)], 10)
    [b'4', b'10', b'+', b'b', b'2.0']
    >>> follow_values([], 10), follow_values([], 0)
    ([b'1', b'10'], [b'0'])
    """
    if not ops and bound <= 0:
        return [b"0"]
    values = [b"%d" % bound]
    for op in ops:
        values += (b"+" if op.follow else b"-", op.target.encode(), repr(op.ts).encode())
    return [b"%d" % len(values), *values]


def after_ops(
    followees: Mapping[str, float], ops: Iterable[FollowOp], bound: int
) -> dict[str, float]:
    """The set after ``ops`` as the write script leaves it: the newest ``bound`` follows
    (ties of time by id, as a sorted set orders them).

    >>> after_ops({"a": 1.0, "b": 2.0}, [FollowOp(True, "c", 3.0), FollowOp(False, "b", 4.0)], 1)
    {'c': 3.0}
    """
    now = dict(followees)
    for op in ops:
        if op.follow:
            now[op.target] = op.ts
        else:
            now.pop(op.target, None)
    if len(now) <= bound:
        return now
    kept = sorted(now.items(), key=lambda kv: (kv[1], kv[0].encode()))[-bound:] if bound else []
    return dict(kept)


@dataclass(frozen=True, slots=True)
class FolloweeRow:
    """A followee's stored vectors (raw bytes, None when absent); see FOLLOWEE_FIELDS."""

    long_term: bytes | None
    long_term_version: str | None
    long_term_state: bytes | None
    long_term_state_version: str | None
    short_term: bytes | None
    model_version: str | None

    @classmethod
    def of(cls, row: Sequence[bytes | None]) -> FolloweeRow:
        lt, ltv, state, statev, st, version = row
        return cls(lt, _text(ltv), state, _text(statev), st, _text(version))


@asynccontextmanager
async def _outages() -> AsyncIterator[None]:
    """Errors a retry gets past become StoreUnavailable (as in state.store)."""
    try:
        yield
    except rex.RedisError as exc:
        if is_outage(exc):
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise
    except OSError as exc:
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


class FolloweeReader:
    """The worker's reads for the social part: sets, then the followees' vectors."""

    def __init__(self, client: AsyncClient, keys: KeyLayout) -> None:
        self.client = client
        self.keys = keys

    async def followees(self, user_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Each user's followees and follow times, in one round trip."""
        if not user_ids:
            return {}
        async with _outages(), self.client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zrangebyscore(self.keys.followees(user_id), "-inf", "+inf", withscores=True)
            rows = await pipe.execute()
        return {
            user_id: {_text(m) or "": float(s) for m, s in row}
            for user_id, row in zip(user_ids, rows, strict=True)
        }

    async def rows(self, user_ids: Sequence[str]) -> dict[str, FolloweeRow]:
        """The stored vectors of users (followees) that have a hash, in one round trip."""
        if not user_ids:
            return {}
        async with _outages(), self.client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.hmget(self.keys.user(user_id), list(FOLLOWEE_FIELDS))
            rows = await pipe.execute()
        return {
            user_id: FolloweeRow.of(row)
            for user_id, row in zip(user_ids, rows, strict=True)
            if any(v is not None for v in row)
        }

    async def load_prior(self) -> float:
        """Every worker's steps of the social weight so far (logit change)."""
        async with _outages():
            raw = await self.client.get(self.keys.social_prior())
        return float(raw) if raw else 0.0


def _text(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else raw
