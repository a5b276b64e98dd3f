"""The Redis :class:`~state.user_store.UserStore`: batched, atomic reads and writes.

One round trip loads a batch of users (one script: the fields the fold needs
and each user's erasure fence) and one writes them (pipelined EVALSHA of the compare-and-set script,
plus the shared learner state), whatever the batch size. Outages raise
:class:`~state.errors.StoreUnavailable`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib import resources

import numpy as np
import redis.asyncio as aioredis
import redis.exceptions as rex
from redis.asyncio.cluster import ClusterPipeline

from state import cluster
from state.codec import decode_json, decode_vector, encode_json, encode_vector
from state.connection import AsyncClient, RedisEndpoint, outage_client
from state.erasure import ErasureFence
from state.errors import StoreUnavailable, is_outage
from state.keys import Field, KeyLayout
from state.resp import fast_packing
from state.user_store import (
    SharedWrite,
    StoredUser,
    UserWrite,
    WriteOutcome,
    decode_surface_mix,
)

log = logging.getLogger(__name__)

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
    "surface_mix",
    "social",
    "social_at",
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
        Field.LAST_TOPIC,
        Field.MIX_OFFSET,
        Field.SHIFT_STATE,
        Field.LONG_TERM,
        Field.LONG_TERM_VERSION,
        Field.LONG_TERM_STATE,
        Field.LONG_TERM_STATE_VERSION,
        Field.SURFACE_MIX,
        Field.SOCIAL,
        Field.SOCIAL_AT,
        Field.RECOMMENDATIONS,  # last shown: live quality scores the next event against it
    )
)
SURFACE_PRIOR = "mix_prior:"
"""Names a surface's prior among a write's shared results."""
ITEM_CHANGES = "item_changes"
"""Names the change log's commands among a write's shared results (a failed one is
logged, not retried: the vectors it names were written)."""
APPLY_SCRIPT = resources.files("state").joinpath("apply_user.lua").read_text()
READ_SCRIPT = resources.files("state").joinpath("read_users.lua").read_text()
SCRIPTS = {hashlib.sha1(text.encode()).hexdigest(): text for text in (APPLY_SCRIPT, READ_SCRIPT)}
APPLY_SHA, READ_SHA = SCRIPTS
ITEM_DELTAS_SCRIPT = resources.files("state").joinpath("add_item_deltas.lua").read_text()
ITEM_DELTAS_SHA = hashlib.sha1(ITEM_DELTAS_SCRIPT.encode()).hexdigest()
SCRIPTS[ITEM_DELTAS_SHA] = ITEM_DELTAS_SCRIPT
ITEM_CHANGES_KEPT_S = 600.0
"""How long the item change log keeps an entry; a reader whose last read is older
reads every item again (``streams.worker.interest_updater``)."""
ITEM_CHANGES_REREAD_MS = 2000
"""Each read of the change log starts this far before the last entry read: on a Redis
Cluster the log and the item hash live on different nodes, so an entry may be seen a
moment before the vector it names is written (re-reading a vector is harmless)."""
ITEM_CHANGES_PAGE = 1000
"""Change-log entries per XRANGE call, and item ids per HMGET call."""
ITEM_CHANGES_FIELD = "ids"
Entry = tuple[bytes, dict[bytes, bytes]]
"""A stream entry as redis-py returns it: its id and its fields."""
NO_CHANGE = "0-0"
"""The cursor before any entry of a change log."""


@asynccontextmanager
async def _outages() -> AsyncIterator[None]:
    """Redis errors that a retry can get past become :class:`StoreUnavailable`."""
    try:
        yield
    except StoreUnavailable:
        raise
    except rex.RedisError as exc:
        if is_outage(exc):
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
        raise
    except OSError as exc:  # a socket error redis-py did not wrap
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


class UserStateStore:
    """The workers' view of Redis; nothing connects until first use."""

    def __init__(
        self, client: AsyncClient, keys: KeyLayout, dim: int, ttl_s: int, history_length: int
    ) -> None:
        self.client = fast_packing(client)
        self.keys = keys
        self.dim = dim
        self.ttl_s = ttl_s
        self.history_length = history_length
        self.scripts_lost = False

    @classmethod
    def from_url(
        cls,
        url: str,
        keys: KeyLayout,
        dim: int,
        ttl_s: int,
        history_length: int,
        timeout_s: float | None = None,
    ) -> UserStateStore:
        """A store whose commands fail after ``timeout_s`` instead of hanging; the
        caller retries (redis-py's own retries are off, so an outage shows at once)."""
        client = outage_client(RedisEndpoint(url), timeout_s)
        return cls(client, keys, dim, ttl_s, history_length)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def prepare(self) -> None:
        async with _outages():
            await self._load_scripts()

    async def _load_scripts(self) -> None:
        for text in SCRIPTS.values():
            if cluster.is_cluster(self.client):  # replicas too: the next failover's primaries
                await cluster.load_everywhere(self.client, text)
            else:
                await self.client.script_load(text)

    async def load_users(
        self, user_ids: Sequence[str], shown: bool = False
    ) -> dict[str, StoredUser]:
        """The fields the fold needs, of every user, in one command; with ``shown`` also
        the last recommendation (live quality), which is most of a hash's bytes."""
        fields = _READ_FIELDS if shown else _READ_FIELDS[:-1]
        ids = list(user_ids)
        if not ids:
            return {}
        keys: list[str] = []
        for user_id in ids:
            keys += (self.keys.user(user_id), self.keys.erasure(user_id))
        async with _outages():
            try:
                rows = await self._read(keys, fields)
            except rex.NoScriptError:
                await self._load_scripts()
                try:
                    rows = await self._read(keys, fields)
                except rex.NoScriptError as exc:  # a node mid-failover: wait, try again
                    raise StoreUnavailable(f"NoScriptError: {exc}") from exc
        return {user_id: self._parse(user_id, row) for user_id, row in zip(ids, rows, strict=True)}

    async def _read(self, keys: list[str], fields: Sequence[bytes]) -> list[list[bytes | None]]:
        if cluster.is_cluster(self.client):  # one call per slot (state/cluster.py)
            groups = cluster.SlotGroups.of(keys, 2)
            async with self.client.pipeline(transaction=False) as pipe:
                groups.queue(pipe, READ_SHA, keys, 2, fields)
                return groups.spread(await pipe.execute())
        rows: list[list[bytes | None]] = await self.client.evalsha(
            READ_SHA, len(keys), *keys, *fields
        )
        return rows

    async def load_recommendations(self, user_ids: Sequence[str]) -> dict[str, bytes | None]:
        ids = list(user_ids)
        async with _outages(), self.client.pipeline(transaction=False) as pipe:
            for user_id in ids:
                pipe.hget(self.keys.user(user_id), Field.RECOMMENDATIONS)
            rows = await pipe.execute()
        return dict(zip(ids, rows, strict=True))

    async def write(self, writes: Sequence[UserWrite], shared: SharedWrite) -> WriteOutcome:
        """Every user's compare-and-set script and the shared state, in one round trip."""
        async with _outages():
            if self.scripts_lost:  # the item-delta script was refused last time
                await self._load_scripts()
                self.scripts_lost = False
            outcome, results = await self._write_once(writes, shared)
            if writes and isinstance(results[0], rex.NoScriptError):
                # A restarted or flushed Redis forgot the script: load it, write the users again.
                log.info("Redis lost the write script; loading it again")
                await self._load_scripts()
                # Only the refused ones (all of them on one server; on a cluster the
                # groups of the nodes that forgot it, others may have committed).
                redo = [i for i, ok in enumerate(outcome.committed) if ok is None]
                again, _ = await self._write_once([writes[i] for i in redo], None)
                committed = list(outcome.committed)
                for i, ok in zip(redo, again.committed, strict=True):
                    committed[i] = ok
                outcome = WriteOutcome(
                    committed,
                    again.refusal,
                    outcome.mix_prior,
                    outcome.shared_written,
                    social_prior=outcome.social_prior,
                    surface_priors=outcome.surface_priors,
                )
        return outcome

    async def _write_once(
        self, writes: Sequence[UserWrite], shared: SharedWrite | None
    ) -> tuple[WriteOutcome, list[object]]:
        async with self.client.pipeline(transaction=False) as pipe:
            if writes:
                keys: list[str] = []
                for write in writes:
                    user_id = write.before.user_id
                    keys += (
                        self.keys.user(user_id),
                        self.keys.history(user_id),
                        self.keys.erasure(user_id),
                        self.keys.followees(user_id),
                    )
                limits = (b"%d" % self.ttl_s, b"%d" % self.history_length)
                packed = [w.packed(self.history_length) for w in writes]
                if cluster.is_cluster(self.client):  # one call per slot (state/cluster.py)
                    groups = cluster.SlotGroups.of(keys, 4)
                    calls = groups.queue(pipe, APPLY_SHA, keys, 4, limits, packed)
                else:
                    pipe.evalsha(APPLY_SHA, len(keys), *keys, *limits, *packed)
            extra = self._queue_shared(pipe, shared) if shared else []
            results = await pipe.execute(raise_on_error=False)
        n = 1 if writes else 0
        committed: list[bool | None] = [None] * len(writes)
        refusal: str | None = None
        if writes and cluster.is_cluster(self.client):
            committed, refusal, first = _per_user(groups.spread(results[:calls]))
            results = [first, *results[calls:]]
        elif writes:
            result = results[0]
            if isinstance(result, Exception):
                if not isinstance(result, rex.NoScriptError) and not is_outage(result):
                    raise result
                refusal = f"{type(result).__name__}: {result}"
            else:
                committed = [bool(r) for r in result]
        mix_prior: float | None = None
        surface_priors: dict[str, float] = {}
        social_prior: float | None = None
        shared_written = True
        for name, result in zip(extra, results[n:], strict=True):
            if isinstance(result, Exception) and name == ITEM_CHANGES:
                # The vectors are written: resending their steps would count them twice.
                log.warning("item change log not written (seen at full reloads only): %s", result)
            elif isinstance(result, Exception):
                log.warning("shared state (%s) not written: %s", name, result)
                shared_written = False
                if isinstance(result, rex.NoScriptError):  # loaded again before the resend
                    self.scripts_lost = True
            elif name == "mix_prior":
                mix_prior = float(result)
            elif name == "social_prior":
                social_prior = float(result)
            elif name.startswith(SURFACE_PRIOR):
                surface_priors[name[len(SURFACE_PRIOR) :]] = float(result)
        outcome = WriteOutcome(
            committed,
            refusal,
            mix_prior,
            shared_written,
            social_prior=social_prior,
            surface_priors=surface_priors,
        )
        return outcome, list(results)

    def _queue_shared(
        self, pipe: aioredis.client.Pipeline | ClusterPipeline, shared: SharedWrite
    ) -> list[str]:
        names: list[str] = []
        whole = {i: v for i, v in shared.items.items() if i not in shared.item_deltas}
        if whole:
            mapping = {item_id: encode_vector(v) for item_id, v in whole.items()}
            pipe.hset(self.keys.items(shared.model_version), mapping=mapping)  # type: ignore[arg-type]
            names.append("items")
        if shared.item_deltas:
            args: list[bytes | str] = [b"%d" % self.dim]
            for item_id, delta in shared.item_deltas.items():
                now = shared.items.get(item_id, delta)
                args += (item_id, encode_vector(delta), encode_vector(now))
            key = self.keys.items(shared.model_version)
            pipe.execute_command("EVALSHA", ITEM_DELTAS_SHA, 1, key, *args)
            names.append("item_deltas")
        if whole or shared.item_deltas:
            names += self._log_item_changes(
                pipe, shared.model_version, [*whole, *shared.item_deltas]
            )
        if shared.events:
            pipe.incrby(self.keys.events_total(), shared.events)
            names.append("events")
        if shared.mix_prior_delta:
            pipe.incrbyfloat(self.keys.mix_prior(), shared.mix_prior_delta)
            names.append("mix_prior")
        for surface, step in shared.surface_prior_deltas.items():
            pipe.incrbyfloat(self.keys.surface_prior(surface), step)
            names.append(SURFACE_PRIOR + surface)
        if shared.social_prior_delta:
            pipe.incrbyfloat(self.keys.social_prior(), shared.social_prior_delta)
            names.append("social_prior")
        if shared.trending is not None:
            body = {
                "items": list(shared.trending),
                "model_version": shared.model_version,
                "updated_at": time.time(),
            }
            pipe.set(self.keys.trending(), encode_json(body))
            names.append("trending")
        return names

    async def model_version(self, default: str) -> str:
        async with _outages():
            raw = await self.client.get(self.keys.model_version())
        if not raw:
            return default
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def load_items(self, model_version: str) -> dict[str, np.ndarray]:
        return await self._vectors(self.keys.items(model_version))

    async def load_long_term_items(self, model_version: str) -> dict[str, np.ndarray]:
        return await self._vectors(self.keys.long_term_items(model_version))

    async def _vectors(self, key: str) -> dict[str, np.ndarray]:
        """An item-vector hash, rows of another dimension left out."""
        vectors: dict[str, np.ndarray] = {}
        async with _outages():
            async for item_id, raw in self.client.hscan_iter(key, count=2000):
                vector = decode_vector(raw)
                if vector.shape[0] == self.dim:
                    vectors[item_id.decode()] = vector
        return vectors

    async def add_new_items(self, model_version: str, vectors: Mapping[str, np.ndarray]) -> None:
        """Item vectors placed in the version's trained space (by the content projection),
        never overwriting one already learned; the long-term item vectors take them too."""
        if not vectors:
            return
        async with _outages(), self.client.pipeline(transaction=False) as pipe:
            for item_id, vector in vectors.items():
                raw = encode_vector(vector)
                pipe.hsetnx(self.keys.items(model_version), item_id, raw)
                pipe.hsetnx(self.keys.long_term_items(model_version), item_id, raw)
            self._log_item_changes(pipe, model_version, list(vectors))
            await pipe.execute()

    def _log_item_changes(
        self,
        pipe: aioredis.client.Pipeline | ClusterPipeline,
        model_version: str,
        item_ids: Sequence[str],
    ) -> list[str]:
        """Queue an entry naming ``item_ids`` on the version's change log, and trim entries
        older than :data:`ITEM_CHANGES_KEPT_S`; the names of the queued results."""
        key = self.keys.item_changes(model_version)
        pipe.xadd(key, {ITEM_CHANGES_FIELD: encode_json(list(item_ids))})
        oldest = int((time.time() - ITEM_CHANGES_KEPT_S) * 1000)
        pipe.xtrim(key, minid=f"{max(oldest, 0)}-0", approximate=True)
        return [ITEM_CHANGES, ITEM_CHANGES]

    async def item_changes_cursor(self, model_version: str) -> str:
        """The change log's newest entry now: read the items after this, then their
        changes since it with :meth:`load_changed_items`."""
        async with _outages():
            newest: list[Entry] = await self.client.xrevrange(  # type: ignore[assignment]
                self.keys.item_changes(model_version), count=1
            )
        return _entry_id(newest[0][0]) if newest else NO_CHANGE

    async def load_changed_items(
        self, model_version: str, cursor: str
    ) -> tuple[dict[str, np.ndarray], str]:
        """Vectors of the items whose writes were logged after ``cursor`` (and in the
        :data:`ITEM_CHANGES_REREAD_MS` before it), and the cursor to pass next time."""
        key = self.keys.item_changes(model_version)
        ms = max(int(cursor.split("-", 1)[0]) - ITEM_CHANGES_REREAD_MS, 0)
        start, newest = f"{ms}-0", cursor
        changed: dict[str, None] = {}
        async with _outages():
            while True:
                entries: list[Entry] = await self.client.xrange(  # type: ignore[assignment]
                    key, min=start, count=ITEM_CHANGES_PAGE
                )
                for entry_id, fields in entries:
                    raw = fields.get(ITEM_CHANGES_FIELD.encode())
                    changed.update(dict.fromkeys(str(i) for i in decode_json(raw, [])))
                    newest = _entry_id(entry_id)
                if len(entries) < ITEM_CHANGES_PAGE:
                    break
                start = "(" + newest  # exclusive: Redis 6.2 or later
            vectors: dict[str, np.ndarray] = {}
            ids = list(changed)
            items_key = self.keys.items(model_version)
            for at in range(0, len(ids), ITEM_CHANGES_PAGE):
                page = ids[at : at + ITEM_CHANGES_PAGE]
                raws: list[bytes | None] = await self.client.hmget(items_key, page)  # type: ignore[assignment]
                for item_id, raw in zip(page, raws, strict=True):
                    if raw is None:
                        continue
                    vector = decode_vector(raw)
                    if vector.shape[0] == self.dim:
                        vectors[item_id] = vector
        return vectors, newest

    async def save_catalog(
        self, entries: Mapping[str, bytes], available: Mapping[str, bool]
    ) -> None:
        """Catalog entries (raw JSON) of the ``items`` topic, and which are unavailable."""
        if not entries and not available:
            return
        async with _outages(), self.client.pipeline(transaction=False) as pipe:
            if entries:
                pipe.hset(self.keys.item_meta(), mapping=dict(entries))  # type: ignore[arg-type]
            gone = [i for i, ok in available.items() if not ok]
            back = [i for i, ok in available.items() if ok]
            if gone:
                pipe.sadd(self.keys.unavailable(), *gone)
            if back:
                pipe.srem(self.keys.unavailable(), *back)
            await pipe.execute()

    async def load_unavailable(self) -> set[str]:
        async with _outages():
            members = await self.client.smembers(self.keys.unavailable())
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    async def load_mix_prior(self) -> float:
        async with _outages():
            raw = await self.client.get(self.keys.mix_prior())
        return float(raw) if raw else 0.0

    async def load_surface_priors(self, surfaces: Sequence[str]) -> dict[str, float]:
        """:meth:`load_mix_prior` of each of the non-default ``surfaces`` (0 where unset)."""
        if not surfaces:
            return {}
        async with _outages(), self.client.pipeline(transaction=False) as pipe:
            for surface in surfaces:
                pipe.get(self.keys.surface_prior(surface))
            rows = await pipe.execute()
        return {s: float(raw) if raw else 0.0 for s, raw in zip(surfaces, rows, strict=True)}

    async def load_gru_step(self, model_version: str) -> bytes | None:
        async with _outages():
            raw = await self.client.get(self.keys.gru_step(model_version))
        return raw if isinstance(raw, bytes) else None

    async def load_projection(self, model_version: str) -> bytes | None:
        async with _outages():
            raw = await self.client.get(self.keys.content_projection(model_version))
        return raw if isinstance(raw, bytes) else None

    def _parse(self, user_id: str, row: Sequence[bytes | None]) -> StoredUser:
        (st, ts, n, recent, part, off, version, topic, mix, shift) = row[:10]
        lt, lt_version, lt_state, lt_state_version = row[10:14]
        surface_mix = decode_surface_mix(row[14])
        social, social_at = row[15:17]
        shown = row[17] if len(row) > 18 else None  # read only for live quality
        erasure = row[-1]
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
            mix_offset=float(mix) if mix else 0.0,
            shift_state=decode_json(shift, None),
            long_term=decode_vector(lt) if lt else None,
            long_term_version=lt_version.decode() if lt_version else None,
            long_term_state=decode_vector(lt_state) if lt_state else None,
            long_term_state_version=lt_state_version.decode() if lt_state_version else None,
            erasure=erasure.decode() if erasure else "",
            fence=ErasureFence.decode(erasure) if erasure else None,
            shown=shown or None,
            surface_mix=surface_mix,
            social=decode_vector(social, self.dim) if social else None,
            social_at=float(social_at) if social_at else None,
        )


def _entry_id(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _per_user(results: list[object]) -> tuple[list[bool | None], str | None, object]:
    """Per-user replies of the slot groups' calls: written, conflict, or refused (None,
    an outage or a node that forgot the script). Also what stands for them all: the
    first ``NoScriptError`` (so the caller loads the script and redoes the refused),
    else the first refusal, else True."""
    committed: list[bool | None] = []
    refusal: str | None = None
    first: object = True
    for result in results:
        if isinstance(result, Exception):
            if not isinstance(result, rex.NoScriptError) and not is_outage(result):
                raise result
            committed.append(None)
            refusal = refusal or f"{type(result).__name__}: {result}"
            lost = isinstance(result, rex.NoScriptError)
            if first is True or (lost and not isinstance(first, rex.NoScriptError)):
                first = result
        else:
            committed.append(bool(result))
    return committed, refusal, first
