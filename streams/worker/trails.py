"""The worker's side of interest-evolution trails: decide, per committed user,
whether a point is due, and append due points in the background.

A point is due when the user is new, crosses a multiple of
``trail_every_events`` applied events, enters a new ``trail_period_s`` period
of event time, or shifts in this batch; so a busy user gets one point per N
events and a slow one one per period at most, and the list in Redis keeps the
last ``trail_length``. Deciding costs a few integer divisions per committed
user; a due point costs one cosine and a small JSON document. Points wait in a
bounded buffer and go to Redis in one pipelined round trip by a background
task, one at a time, so the batch path never waits on them. Trails are a view,
not state: points are dropped (and counted) when the buffer is full or Redis is
out, never retried at the stream's expense.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import orjson

from models.batch_fold import ShiftAt
from models.blend import cosine
from models.user_interest import UserInterest
from state import StoredUser, UserStore
from state.trails import TrailPoint, TrailWriter
from streams.settings import Settings
from streams.worker.events import Event

log = logging.getLogger(__name__)

BUFFER_POINTS = 10000
"""Points waiting for Redis at most; beyond it the oldest are dropped."""
TOP_ITEMS = 5
"""Recommended (and chosen) items a point keeps."""


class TrailRecorder:
    """Collects due points from the batch path and writes them behind it."""

    def __init__(self, settings: Settings, writer: TrailWriter) -> None:
        self.every = settings.trail_every_events
        self.period_s = settings.trail_period_s
        self.weights = settings.event_weights
        self.writer = writer
        self.buffer: deque[TrailPoint] = deque(maxlen=BUFFER_POINTS)
        self.written = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_store(cls, settings: Settings, store: UserStore) -> TrailRecorder | None:
        """A recorder on the store's Redis client; None when trails are off or the
        store is not Redis (the in-memory store of unit tests)."""
        client = getattr(store, "client", None)
        keys = getattr(store, "keys", None)
        if settings.trail_length <= 0 or client is None or keys is None:
            return None
        return cls(settings, TrailWriter(client, keys, settings.trail_length, settings.user_ttl_s))

    def due(self, before: StoredUser, events: Sequence[Event], shifts: Sequence[ShiftAt]) -> bool:
        n0, n1 = before.events_applied, before.events_applied + len(events)
        if n0 == 0 or shifts or n1 // self.every > n0 // self.every:
            return True
        last = before.last_event_ts
        return last is None or math.floor(events[-1].ts / self.period_s) > math.floor(
            last / self.period_s
        )

    def note(
        self,
        before: StoredUser,
        after: UserInterest,
        events: Sequence[Event],
        shifts: Sequence[ShiftAt],
        mix_weight: float,
        recommendation: bytes,
        version: str,
    ) -> None:
        """A committed user's batch: buffer a point if one is due (called per user)."""
        if not self.due(before, events, shifts):
            return
        long_term = after.long_term
        similarity = (
            None
            if long_term is None or not np.any(long_term)
            else round(cosine(after.short_term.vector, long_term), 4)
        )
        try:
            top = [str(i["item_id"]) for i in orjson.loads(recommendation)["items"][:TOP_ITEMS]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            top = []
        items = [e for e in events if e.is_item]  # the fold's shift indices count these
        chosen = [e.item_id for e in items if self.weights.get(e.type, 0.0) > 0][-TOP_ITEMS:]
        events_now = before.events_applied + len(events)
        point: dict[str, object] = {
            "ts": events[-1].ts,
            "events": events_now,
            "mix_weight": round(mix_weight, 4),
            "similarity": similarity,
            "top": top,
            "chosen": chosen,
            "version": version,
        }
        if shifts:
            at = shifts[-1]
            point["shift"] = {
                "ts": items[at.event_index].ts,
                "strength": round(at.shift.strength, 4),
                "to": items[at.event_index].item_id,
            }
        if len(self.buffer) == self.buffer.maxlen:
            self.dropped += 1
        self.buffer.append(TrailPoint(before.user_id, events_now, orjson.dumps(point)))

    def kick(self) -> None:
        """Start a background write of the buffered points unless one is running."""
        if not self.buffer or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        points = list(self.buffer)
        self.buffer.clear()
        try:
            self.written += await self.writer.append(points)
        except Exception as exc:  # a view: never let it reach the stream
            self.dropped += len(points)
            log.warning("dropped %d trail points: %s", len(points), exc)

    async def drain(self) -> None:
        """Write what is buffered now and wait for it (tests, shutdown)."""
        while self.buffer or (self._task is not None and not self._task.done()):
            if self._task is not None and not self._task.done():
                await self._task
            self.kick()
