"""Interest-evolution trails: a bounded, time-stamped list of points per user.

A worker appends a point when a user crosses a multiple of N applied events,
enters a new period of event time, or shifts (streams/worker/trails.py says
which); the list keeps the last ``length`` points. Each point is a small JSON
object (docs/redis-layout.md lists its fields). The append is one script per
point that writes only while the user hash exists, holds at least the events
the point describes and has no erasure fence, so an erased user's trail is
never recreated by a batch that was in flight when ``forget`` ran.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
import redis.exceptions as rex

from state.connection import SyncClient
from state.keys import Field, KeyLayout

APPEND_SCRIPT = """
-- KEYS[1]: user hash, KEYS[2]: erasure fence, KEYS[3]: trail list
-- ARGV[1]: events the point describes, ARGV[2]: the point, ARGV[3]: length, ARGV[4]: TTL s
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local n = redis.call('HGET', KEYS[1], 'events_applied')
if not n or tonumber(n) < tonumber(ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
return 1
"""
APPEND_SHA = hashlib.sha1(APPEND_SCRIPT.encode()).hexdigest()
assert Field.EVENTS_APPLIED == "events_applied"  # the script names the field


@dataclass(frozen=True, slots=True)
class TrailPoint:
    """One point of a user's trail, ready to append."""

    user_id: str
    events_applied: int
    body: bytes  # JSON


class TrailWriter:
    """Appends points in one pipelined round trip (async, the worker's client)."""

    def __init__(self, client: aioredis.Redis, keys: KeyLayout, length: int, ttl_s: int) -> None:
        self.client = client
        self.keys = keys
        self.length = length
        self.ttl_s = ttl_s

    async def append(self, points: Sequence[TrailPoint]) -> int:
        """Append ``points``; how many were written (the rest: erased or gone users)."""
        if not points:
            return 0
        try:
            return await self._append(points)
        except rex.NoScriptError:
            await self.client.script_load(APPEND_SCRIPT)
            return await self._append(points)

    async def _append(self, points: Sequence[TrailPoint]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for p in points:
            keys = (
                self.keys.user(p.user_id),
                self.keys.erasure(p.user_id),
                self.keys.trail(p.user_id),
            )
            pipe.evalsha(APPEND_SHA, 3, *keys, p.events_applied, p.body, self.length, self.ttl_s)
        results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return sum(int(r) for r in results)


def read_trail(client: SyncClient, keys: KeyLayout, user_id: str) -> list[dict[str, Any]]:
    """A user's trail, oldest point first (unreadable points are left out)."""
    raw: list[bytes] = client.lrange(keys.trail(user_id), 0, -1)  # type: ignore[assignment]
    points = []
    for entry in raw:
        try:
            point = orjson.loads(entry)
        except orjson.JSONDecodeError:
            continue
        if isinstance(point, dict):
            points.append(point)
    return points
