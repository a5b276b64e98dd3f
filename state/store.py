"""Batched, atomic reads and writes of user state for the workers.

One round trip loads a batch of users (pipelined HMGET) and one writes them
(pipelined compare-and-set Lua script), whatever the batch size.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import redis.asyncio as aioredis

from state.codec import decode_json, decode_vector, encode_json, encode_vector
from state.keys import Field, KeyLayout

# The order of FIELDS in apply_user.lua; a test keeps the two equal.
WRITE_FIELDS = (
    "last_topic",
    "last_partition",
    "last_offset",
    "short_term",
    "last_event_ts",
    "events_applied",
    "recent_items",
    "model_version",
    "recommendations",
    "updated_at",
    "mix_offset",
    "mix_weight",
    "shift_state",
    # Optional: written only when non-empty (a worker without a GRU step leaves them be).
    "long_term_state",
    "long_term_state_version",
)

_READ_FIELDS = tuple(
    f.encode()
    for f in (
        Field.SHORT_TERM,
        Field.LAST_EVENT_TS,
        Field.EVENTS_APPLIED,
        Field.RECENT_ITEMS,
        Field.LAST_PARTITION,
        Field.LAST_OFFSET,
        Field.MODEL_VERSION,
        Field.RECOMMENDATIONS,
        Field.LAST_TOPIC,
        Field.MIX_OFFSET,
        Field.SHIFT_STATE,
        Field.LONG_TERM,
        Field.LONG_TERM_VERSION,
        Field.LONG_TERM_STATE,
        Field.LONG_TERM_STATE_VERSION,
    )
)
APPLY_SCRIPT = resources.files("state").joinpath("apply_user.lua").read_text()


@dataclass(slots=True)
class StoredUser:
    """A user's state as read, plus the version stamp a write must match."""

    user_id: str
    short_term: np.ndarray | None = None
    last_event_ts: float | None = None
    events_applied: int = 0
    recent_items: list[str] = field(default_factory=list)
    last_topic: str = ""
    last_partition: str = ""
    last_offset: str = ""
    model_version: str | None = None
    recommendations: bytes | None = None
    mix_offset: float = 0.0
    shift_state: dict[str, float] | None = None
    long_term: np.ndarray | None = None
    long_term_version: str | None = None
    long_term_state: np.ndarray | None = None  # flat; the stepper knows its shape
    long_term_state_version: str | None = None

    def already_applied(self, topic: str, partition: int, offset: int) -> bool:
        """True for an event at or before the last one applied (a replay).

        Offsets only order events of one topic partition; an event from
        another one (a repartitioned or different topic) is always new.
        """
        return (
            self.last_topic == topic
            and self.last_partition == str(partition)
            and bool(self.last_offset)
            and offset <= int(self.last_offset)
        )


@dataclass(frozen=True, slots=True)
class UserWrite:
    """New state for one user, guarded by the stamp it was computed from."""

    before: StoredUser
    short_term: np.ndarray
    last_event_ts: float
    events_applied: int
    recent_items: Sequence[str]
    topic: str
    partition: int
    offset: int
    model_version: str
    recommendations: bytes
    new_items: Sequence[str] = ()
    mix_offset: float = 0.0
    mix_weight: float = 0.5
    shift_state: dict[str, float] | None = None
    long_term_state: np.ndarray | None = None

    def script_args(self, ttl_s: int, history_length: int) -> list[bytes]:
        """All as bytes: redis-py packs bytes fastest, and this runs per user."""
        return [
            self.before.last_topic.encode(),
            self.before.last_partition.encode(),
            self.before.last_offset.encode(),
            b"%d" % ttl_s,
            b"%d" % history_length,
            # In the order of WRITE_FIELDS.
            self.topic.encode(),
            b"%d" % self.partition,
            b"%d" % self.offset,
            encode_vector(self.short_term),
            repr(self.last_event_ts).encode(),
            b"%d" % self.events_applied,
            encode_json(list(self.recent_items)),
            self.model_version.encode(),
            self.recommendations,
            repr(time.time()).encode(),
            repr(self.mix_offset).encode(),
            repr(self.mix_weight).encode(),
            encode_json(self.shift_state or {}),
            *self._long_term_args(),
            *(item.encode() for item in self.new_items),
        ]

    def _long_term_args(self) -> tuple[bytes, bytes]:
        if self.long_term_state is None:
            return b"", b""
        return encode_vector(self.long_term_state.ravel()), self.model_version.encode()


class UserStateStore:
    """The workers' view of Redis; nothing connects until first use."""

    def __init__(
        self, client: aioredis.Redis, keys: KeyLayout, dim: int, ttl_s: int, history_length: int
    ) -> None:
        self.client = client
        self.keys = keys
        self.dim = dim
        self.ttl_s = ttl_s
        self.history_length = history_length
        self._apply = client.register_script(APPLY_SCRIPT)

    @classmethod
    def from_url(
        cls, url: str, keys: KeyLayout, dim: int, ttl_s: int, history_length: int
    ) -> UserStateStore:
        return cls(aioredis.Redis.from_url(url), keys, dim, ttl_s, history_length)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def load_users(self, user_ids: Iterable[str]) -> dict[str, StoredUser]:
        ids = list(user_ids)
        async with self.client.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.hgetall(self.keys.user(user_id))
            rows = await pipe.execute()
        return {user_id: self._parse(user_id, row) for user_id, row in zip(ids, rows, strict=True)}

    async def write_users(self, writes: Sequence[UserWrite]) -> list[bool]:
        """Apply writes atomically per user; False marks a conflict to retry."""
        if not writes:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for write in writes:
                user_id = write.before.user_id
                await self._apply(
                    keys=[self.keys.user(user_id), self.keys.history(user_id)],
                    args=write.script_args(self.ttl_s, self.history_length),
                    client=pipe,
                )
            pipe.incrby(self.keys.events_total(), sum(len(w.new_items) for w in writes))
            results = await pipe.execute()
        return [bool(r) for r in results[:-1]]

    async def model_version(self, default: str) -> str:
        raw = await self.client.get(self.keys.model_version())
        if not raw:
            return default
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def load_items(self, model_version: str) -> dict[str, np.ndarray]:
        vectors: dict[str, np.ndarray] = {}
        async for item_id, raw in self.client.hscan_iter(
            self.keys.items(model_version), count=2000
        ):
            vector = decode_vector(raw)
            if vector.shape[0] == self.dim:
                vectors[item_id.decode()] = vector
        return vectors

    async def save_items(self, model_version: str, vectors: Mapping[str, np.ndarray]) -> None:
        if vectors:
            mapping = {item_id: encode_vector(v) for item_id, v in vectors.items()}
            await self.client.hset(self.keys.items(model_version), mapping=mapping)  # type: ignore[arg-type]

    async def add_new_items(self, model_version: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Like :meth:`save_items`, but never overwrites a vector already learned."""
        async with self.client.pipeline(transaction=False) as pipe:
            for item_id, vector in vectors.items():
                pipe.hsetnx(self.keys.items(model_version), item_id, encode_vector(vector))
            await pipe.execute()

    async def save_catalog(self, entries: Mapping[str, bytes]) -> None:
        """Catalog entries (raw JSON) of the ``items`` topic, by item id."""
        if entries:
            await self.client.hset(self.keys.item_meta(), mapping=dict(entries))  # type: ignore[arg-type]

    async def save_trending(self, item_ids: list[str], model_version: str) -> None:
        body = {"items": item_ids, "model_version": model_version, "updated_at": time.time()}
        await self.client.set(self.keys.trending(), encode_json(body))

    async def load_gru_step(self, model_version: str) -> bytes | None:
        raw = await self.client.get(self.keys.gru_step(model_version))
        return raw if isinstance(raw, bytes) else None

    async def load_projection(self, model_version: str) -> bytes | None:
        raw = await self.client.get(self.keys.content_projection(model_version))
        return raw if isinstance(raw, bytes) else None

    def _parse(self, user_id: str, row: Mapping[bytes, bytes]) -> StoredUser:
        (st, ts, n, recent, part, off, version, recs, topic, mix, shift) = (
            row.get(f) for f in _READ_FIELDS[:11]
        )
        lt, lt_version, lt_state, lt_state_version = (row.get(f) for f in _READ_FIELDS[11:])
        return StoredUser(
            user_id=user_id,
            short_term=decode_vector(st, self.dim) if st else None,
            last_event_ts=float(ts) if ts else None,
            events_applied=int(n) if n else 0,
            recent_items=list(decode_json(recent, [])),
            last_topic=topic.decode() if topic else "",
            last_partition=part.decode() if part else "",
            last_offset=off.decode() if off else "",
            model_version=version.decode() if version else None,
            recommendations=recs,
            mix_offset=float(mix) if mix else 0.0,
            shift_state=decode_json(shift, None),
            long_term=decode_vector(lt) if lt else None,
            long_term_version=lt_version.decode() if lt_version else None,
            long_term_state=decode_vector(lt_state) if lt_state else None,
            long_term_state_version=lt_state_version.decode() if lt_state_version else None,
        )
