"""Applies a batch of interaction messages to user state: one unit of work per user.

Per batch (the README's "Guarantees" says why):

1. decode; rejected messages (invalid, or keyed by another user) become dead letters;
2. read the batch's users, only the fields the fold needs (one round trip),
   and skip replays by their stored offset;
3. fold each user's new events in order, all users at once (``models``);
4. score each user once, on the state after their last event (one product);
5. write every user's state, recommendation, offset and history append, plus
   the shared learner state of earlier commits, in one round trip
   (compare-and-set per user, retried on conflict);
6. step shared learner state (item vectors, trending, the blend's prior) from
   the events of the users whose write committed, never before, so a
   conflict or an outage retry cannot step it twice;
7. hand back one recommendation per user and the dead letters for the caller
   to produce; only then does the caller ack.

A Redis outage or refusal is waited out here, with capped backoff: valid
events are never dead-lettered for it. A crash after 5 and before 7 loses no
recommendation: the replayed last event of a user re-emits the stored one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import orjson

from models import ItemTable, UserVector
from models.ann_index import HnswParams, HnswTopK, build_top_k
from models.batch_fold import FoldedBatch, ShiftAt
from models.blend import MixWeightLearner, cosine
from models.cold_start import at_length, typical_norm
from models.content_projection import ContentProjection, ItemFeatures
from models.fused_scoring import FusionSpace, LongTermItems, as_blend, sharpness_of
from models.gru_step import GRUStepper
from models.interest_model import EventInput, InterestConfig, InterestModel, UserInterest
from models.interest_shift import ShiftState
from models.item_table import TRAINED_SPACE_NEW_ITEM_SCALE
from models.live_quality import rank_in_shown
from models.short_term import rebase
from models.trending import TrendingItems
from state import SharedWrite, StoredUser, StoreUnavailable, UserStore, UserWrite
from state.epoch import unstamped
from state.shadow import ShadowBook
from state.store import ITEM_CHANGES_KEPT_S
from streams.security import user_pseudonyms
from streams.settings import Settings
from streams.worker.ageing import AgeingTracker
from streams.worker.dead_letter import DeadLetter
from streams.worker.epoch_watch import EpochWatch
from streams.worker.events import Event, EventRules, Rejection, decode_event
from streams.worker.explanations import explanation_field
from streams.worker.follows import SocialPart, pseudonymised
from streams.worker.search import SearchPlacer
from streams.worker.shadow import ShadowScoring
from streams.worker.surface_mix import SurfaceMixing
from streams.worker.trails import TrailRecorder

log = logging.getLogger(__name__)

ONLINE_MODEL_VERSION = "online"
MAX_WRITE_ATTEMPTS = 10
"""Compare-and-set conflicts in a row before a batch gives up (another writer is active)."""
DEAD_LETTER_CLASSES = (
    "invalid_event",
    "key_mismatch",
    "apply_failed",
    "bad_catalog_entry",
    "other",
)
"""Why a message was dead-lettered, as metrics count it (the letter itself carries the text)."""

T = TypeVar("T")


def _catalog_entry(message: Incoming) -> tuple[str, ItemFeatures, bytes, bool] | str:
    """(item id, features, raw JSON, available) of a catalog message, or why not."""
    try:
        body = orjson.loads(message.value or b"")
    except orjson.JSONDecodeError as exc:
        return f"catalog entry is not JSON: {exc}"
    if not isinstance(body, dict):
        return "catalog entry is not a JSON object"
    item_id = body.get("item_id") or (message.key or b"").decode(errors="replace")
    if not isinstance(item_id, str | int) or not str(item_id).strip():
        return "catalog entry has no item_id (in the value or the key)"
    available = body.get("available", True) is not False
    return str(item_id).strip(), ItemFeatures.from_json(body), message.value or b"", available


def _shift_state(raw: dict[str, float] | None) -> ShiftState | None:
    """A stored detector state; a corrupt one restarts the detector, never the worker."""
    if not raw:
        return None
    try:
        return ShiftState.from_dict(raw)
    except (ValueError, AttributeError):
        log.warning("discarding an unreadable shift state %r", raw)
        return None


def interest_config(settings: Settings) -> InterestConfig:
    return InterestConfig(
        half_life_s=settings.short_term_half_life_s,
        learning_rate=settings.learning_rate,
        l2=settings.l2,
        recent_items=settings.recent_items,
        event_weights=settings.event_weights,
        shift_lean=settings.shift_lean,
    )


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message as consumed: value bytes and where it came from."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


@dataclass(slots=True)
class Outgoing:
    """Messages to produce before the batch may be acked."""

    recommendations: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    shifts: list[tuple[bytes, bytes]] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0
    outages: int = 0
    # Figures for metrics (streams.worker.metrics), gathered only when measuring:
    rejected: dict[str, int] = field(default_factory=dict)  # dead letters per reason class
    event_ts: list[float] = field(default_factory=list)  # of applied events
    written_lag_s: list[float] = field(default_factory=list)  # event time -> state written
    redis_read_s: list[float] = field(default_factory=list)
    redis_write_s: list[float] = field(default_factory=list)
    outage_s: float = 0.0
    live: list[tuple[str, int]] = field(default_factory=list)  # (shown list's version, rank)

    def reject(self, key: bytes | None, letter: bytes, reason_class: str) -> None:
        """Add a dead letter, counted under one of :data:`DEAD_LETTER_CLASSES`."""
        self.dead_letters.append((key, letter))
        self.rejected[reason_class] = self.rejected.get(reason_class, 0) + 1

    def merge(self, other: Outgoing) -> None:
        self.recommendations += other.recommendations
        self.dead_letters += other.dead_letters
        self.shifts += other.shifts
        self.applied += other.applied
        self.skipped += other.skipped
        self.outages += other.outages
        for reason, count in other.rejected.items():
            self.rejected[reason] = self.rejected.get(reason, 0) + count
        self.event_ts += other.event_ts
        self.written_lag_s += other.written_lag_s
        self.redis_read_s += other.redis_read_s
        self.redis_write_s += other.redis_write_s
        self.outage_s += other.outage_s
        self.live += other.live


@dataclass(frozen=True, slots=True)
class _Located:
    event: Event
    topic: str
    partition: int
    offset: int


@dataclass(slots=True)
class _Pending:
    """Shared learner state of committed writes, not yet in Redis (sent with the next write)."""

    version: str
    items: dict[str, np.ndarray] = field(default_factory=dict)
    events: int = 0
    mix_prior_delta: float = 0.0
    item_deltas: dict[str, np.ndarray] = field(default_factory=dict)  # steps not yet sent


@dataclass(frozen=True, slots=True)
class _ModelParts:
    """Everything of one model version, loaded before the worker switches to it."""

    version: str
    items: ItemTable
    stepper: GRUStepper | None
    projection: ContentProjection | None
    index: HnswTopK | None
    fusion: FusionSpace | None  # the GRU's item vectors, under INTERESTS_BLEND=fusion
    changes_cursor: str  # the version's item change log where its items were read


class InterestUpdater:
    """Owns a worker's item table and learners; state itself lives in the store."""

    def __init__(
        self, settings: Settings, store: UserStore, shadow_book: ShadowBook | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.shadow = ShadowScoring(settings, store, shadow_book)
        self.surfaces = SurfaceMixing(settings.surface_names)
        self.rules = EventRules(
            frozenset(settings.event_weights),
            settings.max_event_bytes,
            settings.max_future_skew_s,
            settings.surface_names,
        )
        self.items = ItemTable(
            settings.vector_size, settings.seed, max_items=settings.item_table_max
        )
        self.items.on_recycle = self._recycled
        self.mix: MixWeightLearner = self.surfaces.learner(
            sharpness=sharpness_of(as_blend(settings.blend))
        )
        self.model = InterestModel(self.items, interest_config(settings), mix=self.mix)
        self.model_version = ONLINE_MODEL_VERSION
        self.projection: ContentProjection | None = None
        self.trending = TrendingItems(settings.trending_half_life_s)
        self.unavailable_ids: set[str] = set()
        self._pending = _Pending(self.model_version)
        self._items_loaded_at = 0.0
        self._changes_cursor: str | None = None  # None: the next reload reads every item
        self._version_checked_at = 0.0
        self._trending_saved_at = 0.0
        self._trending_dirty = False  # events counted since trending was last saved
        self._between_batches = asyncio.Lock()  # a swap never lands inside a batch
        self.outage_waits = 0
        self.epochs: EpochWatch | None = None  # set by the app: recreated topics (state.epoch)
        self.ageing: AgeingTracker | None = None  # set by the app: item dates (state.item_ageing)
        self.searches = SearchPlacer(settings.text_model, settings.short_term_half_life_s)
        self.measure = True
        """Gather figures for metrics and live quality into each batch's report."""
        self.trails = TrailRecorder.for_store(settings, store)
        """Interest-evolution points of committed users, written behind the batch."""
        self.pseudonyms = user_pseudonyms(settings)
        """Keyed pseudonyms of user ids (streams.security); identity when no key is set."""
        self.follows = SocialPart.for_store(settings, store)
        """Follow events: followee sets and the blend's social part (streams.worker.follows)."""

    # -- waiting out outages ---------------------------------------------------

    async def until_available(self, what: Callable[[], Awaitable[T]], out: Outgoing) -> T:
        """``what()``, tried again with capped backoff for as long as the store is out."""
        delay = 0.05
        while True:
            try:
                return await what()
            except StoreUnavailable as exc:
                delay = await self._wait(exc, delay, out)

    async def _wait(self, reason: object, delay: float, out: Outgoing) -> float:
        self.outage_waits += 1
        out.outages += 1
        log.warning("Redis unavailable (%s); waiting and retrying", reason)
        pause = delay * (0.5 + random.random() / 2)
        out.outage_s += pause
        await asyncio.sleep(pause)
        return min(self.settings.redis_retry_max_s, delay * 2)

    async def start(self) -> None:
        """Load the write script, the shared prior and the current model (waits for Redis)."""
        out = Outgoing()
        await self.until_available(self.store.prepare, out)
        if self.epochs is not None:
            await self.until_available(self.epochs.check, out)
        await self.until_available(lambda: self.refresh_items(force=True), out)

    # -- the model -------------------------------------------------------------

    async def poll_model(self) -> None:
        """Swap to a new version while no events come (a timer calls this).

        The batch path checks at the start of each batch; without this an idle
        worker would keep the old version until its next event. Skipped while a
        batch runs, and an outage just waits for the next tick.
        """
        if self._between_batches.locked():
            return
        async with self._between_batches:
            try:
                await self.refresh_items()
            except StoreUnavailable as exc:
                log.debug("model poll skipped: %s", exc)

    async def flush_shared(self) -> None:
        """Send the shared state the last batch left behind (a timer calls this).

        A batch's write carries what earlier batches committed (its own events are
        stepped only once their users' writes commit), so without this the last
        batch before a pause (or a whole stream in one batch) would reach Redis's
        trending, item vectors and priors only with the next event. Skipped while
        a batch runs; an outage leaves it to the next tick or batch.
        """
        if self._between_batches.locked():
            return
        async with self._between_batches:
            shared = self._shared_write()
            if not shared:
                return
            try:
                outcome = await self.store.write([], shared)
            except StoreUnavailable as exc:
                log.debug("shared state flush skipped: %s", exc)
                return
            except Exception:  # a timer must not die: the next batch sends it
                log.exception("shared state flush failed; the next batch sends it")
                return
            if outcome.shared_written:
                self._shared_sent(shared, outcome.mix_prior, outcome.social_prior)
                self.surfaces.sent(shared.surface_prior_deltas, outcome.surface_priors, self.mix)

    async def refresh_items(self, force: bool = False) -> None:
        """Swap to a newly published model, or reload what other workers learned.

        Runs between batches, so no event sees half of a swap.
        """
        now = time.monotonic()
        if force or now - self._version_checked_at >= self.settings.model_poll_s:
            self._version_checked_at = now
            version = await self.store.model_version(ONLINE_MODEL_VERSION)
            swapped = version != self.model_version and await self._swap(version)
            await self.shadow.poll(self.model_version)
            if swapped:
                return
        if force or now - self._items_loaded_at >= self.settings.item_refresh_s:
            vectors = await self._reload_items(now)
            unavailable = await self.store.load_unavailable()
            prior = await self.store.load_mix_prior()
            surface_priors = await self.store.load_surface_priors(self.surfaces.others)
            # Rows learned here but not yet saved stay as learned: on top of what
            # Redis holds (other workers' steps included), this worker's unsent steps.
            for item_id, delta in self._pending.item_deltas.items():
                stored = vectors.get(item_id)
                vectors[item_id] = (
                    self._pending.items[item_id] if stored is None else stored + delta
                )
            self.items.load(vectors)
            self._set_unavailable(unavailable)
            self._set_prior(prior)
            self.surfaces.set_priors(surface_priors, self.mix)
            await self.follows.load_prior()
            self._items_loaded_at = now

    async def _reload_items(self, now: float) -> dict[str, np.ndarray]:
        """The version's item vectors written since the last reload (by any worker), as
        its change log names them; every item when there was no reload yet or the last
        is older than the log keeps (a 1M-item catalogue is a multi-second read)."""
        cursor = self._changes_cursor
        if cursor is None or now - self._items_loaded_at > ITEM_CHANGES_KEPT_S / 2:
            self._changes_cursor = await self.store.item_changes_cursor(self.model_version)
            return await self.store.load_items(self.model_version)
        vectors, self._changes_cursor = await self.store.load_changed_items(
            self.model_version, cursor
        )
        return vectors

    def _set_unavailable(self, item_ids: set[str]) -> None:
        self.unavailable_ids = set(item_ids)
        self.model.unavailable = {self.items.index_of(i) for i in item_ids}

    def _recycled(self, row: int, old_id: str) -> None:
        """A full item table gave ``row`` to a new item: row-keyed state forgets ``old_id``
        (an unavailable item seen again is flagged again at the next reload)."""
        self.model.unavailable.discard(row)
        if row < len(self.trending.scores):
            self.trending.scores[row] = 0.0

    def _set_prior(self, stored_change: float) -> None:
        self.mix.global_logit[0] = (
            self.mix.initial_logit + stored_change + (self._pending.mix_prior_delta)
        )

    async def _swap(self, version: str) -> bool:
        """Score with ``version`` from now on, switching only once all of it is loaded;
        on any failure the old version stays, whole."""
        parts = await self._load_version(version)
        if parts is None:
            return False
        unavailable = await self.store.load_unavailable()
        self.items = parts.items
        self.model = InterestModel(
            parts.items, interest_config(self.settings), mix=self.mix, stepper=parts.stepper
        )
        self.model.index = parts.index
        self.model.fusion = parts.fusion
        self.projection = parts.projection
        self._set_unavailable(unavailable)
        log.info(
            "swapped model %s -> %s (%d items, long-term %s)",
            self.model_version,
            version,
            len(parts.items),
            "stepped per event" if parts.stepper else "from the trainer only",
        )
        self.model_version = version
        self._pending = _Pending(version, mix_prior_delta=self._pending.mix_prior_delta)
        self.trending = TrendingItems(self.settings.trending_half_life_s)  # rows changed
        self._items_loaded_at = time.monotonic()
        self._changes_cursor = parts.changes_cursor
        return True

    async def _load_version(self, version: str) -> _ModelParts | None:
        started = time.perf_counter()
        cursor = await self.store.item_changes_cursor(version)
        vectors = await self.store.load_items(version)
        if not vectors:
            log.error(
                "model %s has no %d-dim item vectors in Redis; staying on %s",
                version,
                self.settings.vector_size,
                self.model_version,
            )
            return None
        items = ItemTable(
            self.settings.vector_size,
            self.settings.seed,
            new_item_scale=TRAINED_SPACE_NEW_ITEM_SCALE,
            max_items=max(self.settings.item_table_max, len(vectors)),  # the model's all fit
        )
        items.on_recycle = self._recycled
        # A new table no batch sees yet: filled in a thread, so a large catalogue (seconds
        # of Python for 1M rows) does not hold the event loop (heartbeats, timers).
        await asyncio.to_thread(items.load, vectors)
        del vectors
        stepper = self._stepper(version, await self.store.load_gru_step(version))
        raw = await self.store.load_projection(version)
        projection = None
        if raw:
            try:
                projection = ContentProjection.from_bytes(raw)
            except (ValueError, KeyError, OSError) as exc:
                log.error("model %s: unusable content projection (%s); staying", version, exc)
                return None
        await self.searches.prepare(projection)
        loaded = time.perf_counter()
        try:  # in a thread: the event loop goes on (heartbeats); this batch waits for it
            index = await asyncio.to_thread(self._build_index, items.matrix)
        except (MemoryError, RuntimeError) as exc:
            log.error("model %s: could not build its top-K index (%s); staying", version, exc)
            return None
        built = time.perf_counter()
        fusion = await self._fusion_space(version, items)
        log.info(
            "model %s: %d items loaded in %.1fs, top-K index %s in %.1fs, fusion items in %.1fs",
            version,
            len(items),
            loaded - started,
            "built" if index is not None else "not needed (brute force)",
            built - loaded,
            time.perf_counter() - built,
        )
        return _ModelParts(version, items, stepper, projection, index, fusion, cursor)

    async def _fusion_space(self, version: str, items: ItemTable) -> FusionSpace | None:
        """The version's GRU item vectors for score-level fusion (None under the vector blend);
        a version published without them fuses against its items as loaded now."""
        if as_blend(self.settings.blend) != "fusion":
            return None
        vectors = await self.store.load_long_term_items(version)

        def assemble() -> FusionSpace:
            """In a thread, as the item table: stacked, aligned to the table, and the table's
            moments, so the first batch after the swap does none of it (1M rows: seconds)."""
            if vectors:
                space = FusionSpace(LongTermItems.from_vectors(vectors))
            else:
                space = FusionSpace(LongTermItems(list(items.ids), items.matrix.copy()))
            space.long_term.aligned(items)
            space.short_moments(items.matrix)
            return space

        if not vectors:
            log.warning("model %s has no long-term item vectors; fusing with its items", version)
        return await asyncio.to_thread(assemble)

    def _build_index(self, matrix: np.ndarray) -> HnswTopK | None:
        s = self.settings
        params = HnswParams(s.ann_m, s.ann_ef_construction, s.ann_ef)
        return build_top_k(matrix, s.ann_min_items, params, s.ann_build_threads)

    def _stepper(self, version: str, raw: bytes | None) -> GRUStepper | None:
        """The version's GRU step; without one, long-term vectors change only at refreshes."""
        if raw is None:
            return None
        try:
            stepper = GRUStepper.from_bytes(raw)
        except ValueError as exc:
            log.error(
                "model %s: unusable GRU step (%s); long-term vectors stay fixed", version, exc
            )
            return None
        if stepper.dim != self.settings.vector_size:
            log.error(
                "model %s: GRU step is %d-dim, not %d; long-term vectors stay fixed",
                version,
                stepper.dim,
                self.settings.vector_size,
            )
            return None
        return stepper

    # -- the catalogue ---------------------------------------------------------

    async def add_catalog(self, entries: Sequence[Incoming]) -> Outgoing:
        """Items from the ``items`` topic: saved, availability shared, placed by the projection."""
        async with self._between_batches:
            return await self._add_catalog(entries)

    async def _add_catalog(self, entries: Sequence[Incoming]) -> Outgoing:
        out, catalog, available = Outgoing(), {}, {}
        cold: dict[str, np.ndarray] = {}
        for message in entries:
            entry = _catalog_entry(message)
            if isinstance(entry, str):
                out.reject(message.key, self.dead_letter(message, entry), "bad_catalog_entry")
                continue
            item_id, features, raw, is_available = entry
            catalog[item_id] = raw
            available[item_id] = is_available
            if self.projection is not None and item_id not in self.items:
                placed = await self.searches.place_item(features, raw, self.projection)
                self.items.set_vector(item_id, at_length(placed, typical_norm(self.items.matrix)))
                cold[item_id] = self.items.vector(item_id)
        if self.model.fusion is not None:  # placed in the GRU's space: its part scores them
            self.model.fusion.long_term.add(cold)
        await self.until_available(lambda: self.store.save_catalog(catalog, available), out)
        await self.until_available(lambda: self.store.add_new_items(self.model_version, cold), out)
        gone = {i for i, ok in available.items() if not ok}
        back = {i for i, ok in available.items() if ok}
        if self.ageing is not None:
            self.ageing.marked(available)
        self._set_unavailable((self.unavailable_ids | gone) - back)
        return out

    # -- the batch path --------------------------------------------------------

    async def apply(self, batch: Sequence[Incoming]) -> Outgoing:
        """One batch: read its users, fold, score, write; the model stays fixed throughout."""
        async with self._between_batches:
            return await self._apply(batch)

    async def _apply(self, batch: Sequence[Incoming]) -> Outgoing:
        out = Outgoing()
        by_user: dict[str, list[_Located]] = {}
        now = time.time()
        await self._check_went_back(batch, out)
        for message in batch:
            decoded = decode_event(message.value, self.rules, now)
            if isinstance(decoded, Rejection):
                out.reject(message.key, self.dead_letter(message, decoded.reason), "invalid_event")
                continue
            if message.key is not None and message.key != decoded.user_id.encode():
                reason = (
                    f"Kafka key {message.key[:64]!r} is not the event's user_id "
                    f"{decoded.user_id!r}: a user's events must share a key (and partition)"
                )
                if self.pseudonyms.enabled:  # the reason is logged: no raw ids
                    reason = "the Kafka key is not the event's user_id: " + reason.split(": ")[-1]
                out.reject(message.key, self.dead_letter(message, reason), "key_mismatch")
                continue
            if self.pseudonyms.enabled:  # from here on (Redis, outputs, metrics) only the pseudonym
                decoded = pseudonymised(decoded, self.pseudonyms)
            located = _Located(
                decoded, self._stamp(message.topic), message.partition, message.offset
            )
            by_user.setdefault(decoded.user_id, []).append(located)
        await self.until_available(self.refresh_items, out)
        pending = by_user
        conflicts, delay = 0, 0.05
        while pending:
            try:
                pending, refusal = await self._attempt(pending, out)
            except StoreUnavailable as exc:
                delay = await self._wait(exc, delay, out)
                continue
            if refusal is not None:
                delay = await self._wait(refusal, delay, out)
            elif pending:
                conflicts += 1
                if conflicts >= MAX_WRITE_ATTEMPTS:
                    raise RuntimeError(
                        f"{len(pending)} users kept conflicting; another writer is active"
                    )
        if self.trails is not None:
            self.trails.kick()
        return out

    async def _attempt(
        self, by_user: dict[str, list[_Located]], out: Outgoing
    ) -> tuple[dict[str, list[_Located]], str | None]:
        """Read, fold, score, write; the users to try again and why (None: conflicts)."""
        self.items.begin_batch()  # rows this attempt uses are not recycled under it
        started = time.perf_counter()
        shown = self.measure or self.shadow.active
        stored = await self.store.load_users(list(by_user), shown=shown)
        if self.measure:
            out.redis_read_s.append(time.perf_counter() - started)
        users: list[StoredUser] = []
        fresh_events: list[list[_Located]] = []
        replayed: list[tuple[StoredUser, _Located]] = []
        skipped = 0
        for user_id, located in by_user.items():
            user = stored[user_id]
            fresh = [x for x in located if not user.already_applied(x.topic, x.partition, x.offset)]
            skipped += len(located) - len(fresh)
            if fresh:
                users.append(user)
                fresh_events.append(fresh)
            else:
                replayed.append((user, located[-1]))
        if skipped and await self._epoch_changed(out):  # replays, or a recreated topic?
            return self._restamped(by_user), None
        out.skipped += skipped
        await self._reemit(replayed, out)
        if not users:
            return {}, None
        interests = [self._interest(u) for u in users]
        await self.follows.plan(users, fresh_events, self.model_version, self.model.stepper)
        folded = self.model.fold(
            interests,
            [
                [
                    EventInput(
                        x.event.item_id,
                        x.event.type,
                        x.event.ts,
                        x.offset,
                        self.surfaces.index(x.event),
                    )
                    for x in fresh
                    if x.event.is_item
                ]
                for fresh in fresh_events
            ],
        )
        await self.searches.apply(
            folded, fresh_events, self.projection, self.items.matrix, self.settings.event_weights
        )
        self.surfaces.last_surfaces(folded, fresh_events)
        self._observe_social(interests, fresh_events)
        recommendations = self._recommend(folded, fresh_events)
        writes = [
            self._write(u, f, fresh, rec)
            for u, f, fresh, rec in zip(
                users, folded.users, fresh_events, recommendations, strict=True
            )
        ]
        writes = self.follows.annotate(writes)
        shared = self._shared_write()
        started = time.perf_counter()
        outcome = await self.store.write(writes, shared)
        written = time.time()
        if self.measure:
            out.redis_write_s.append(time.perf_counter() - started)
        if outcome.shared_written:
            self._shared_sent(shared, outcome.mix_prior, outcome.social_prior)
            self.surfaces.sent(shared.surface_prior_deltas, outcome.surface_priors, self.mix)
        committed = np.array([c is True for c in outcome.committed], dtype=bool)
        self._commit(folded, committed, writes)
        self.follows.commit(committed)
        retry: dict[str, list[_Located]] = {}
        for i, (user, fresh) in enumerate(zip(users, fresh_events, strict=True)):
            if committed[i]:
                out.applied += len(fresh)
                out.recommendations.append((user.user_id.encode(), recommendations[i]))
                out.shifts += [self._shift_message(folded, i, at, fresh) for at in folded.shifts[i]]
                if self.measure:
                    self._measure(user, fresh, written, out)
                if self.trails is not None:
                    self.trails.note(
                        user,
                        folded.users[i],
                        [x.event for x in fresh],
                        folded.shifts[i],
                        self.mix.weight(folded.users[i].mix_offset),
                        recommendations[i],
                        self.model_version,
                    )
            else:
                retry[user.user_id] = by_user[user.user_id]
        if self.shadow.active:
            await self._score_shadow(users, fresh_events, committed, out)
        return retry, outcome.refusal

    async def _score_shadow(
        self,
        users: list[StoredUser],
        fresh_events: list[list[_Located]],
        committed: np.ndarray,
        out: Outgoing,
    ) -> None:
        """The shadow candidate beside the current version, on committed users' first
        chosen items (state before the batch, as live quality scores them)."""
        weights = self.settings.event_weights
        kept = [i for i in range(len(users)) if committed[i]]
        chosen = [
            next(
                (
                    x.event.item_id
                    for x in fresh_events[i]
                    if x.event.is_item and weights[x.event.type] > 0
                ),
                None,
            )
            for i in kept
        ]
        scores = self.shadow.score([users[i] for i in kept], chosen, self.model_version, self.mix)
        if scores is None:
            return
        await self.shadow.record(scores)
        if self.measure:
            out.live += [(scores.version, rank) for rank in scores.candidate_ranks]

    # -- topic epochs (state.epoch) ----------------------------------------------

    async def poll_epochs(self) -> bool:
        """True when a topic was recreated since the last look (a timer asks, between
        batches, so a worker whose consumer sits past the new log's end notices)."""
        if self.epochs is None:
            return False
        async with self._between_batches:
            try:
                return await self.epochs.check()
            except StoreUnavailable as exc:
                log.debug("epoch check skipped: %s", exc)
                return False

    def _stamp(self, topic: str) -> str:
        return topic if self.epochs is None else self.epochs.stamp(topic)

    async def _check_went_back(self, batch: Sequence[Incoming], out: Outgoing) -> None:
        """A partition's offsets going back hint at a recreated topic: ask before stamping."""
        if self.epochs is None:
            return
        back = [self.epochs.went_back(m.topic, m.partition, m.offset) for m in batch]
        if any(back):
            await self._epoch_changed(out)

    async def _epoch_changed(self, out: Outgoing) -> bool:
        epochs = self.epochs
        return epochs is not None and await self.until_available(epochs.check, out)

    def _restamped(self, by_user: dict[str, list[_Located]]) -> dict[str, list[_Located]]:
        return {
            user_id: [
                _Located(x.event, self._stamp(unstamped(x.topic)), x.partition, x.offset)
                for x in located
            ]
            for user_id, located in by_user.items()
        }

    def _measure(
        self, user: StoredUser, fresh: list[_Located], written: float, out: Outgoing
    ) -> None:
        """Freshness of a committed user's events, and live quality: the user's first
        chosen item (positive weight, as ``interests evaluate`` scores) against the list
        they were last shown. Later events of the batch saw that same list, but scoring
        them too would weigh users by batch size; the first is the one prequential
        replay scores against a list made before it."""
        ts = [x.event.ts for x in fresh]
        out.event_ts += ts
        out.written_lag_s += [written - t for t in ts]
        if user.shown is None:
            return
        weights = self.settings.event_weights
        chosen = next(
            (x.event.item_id for x in fresh if x.event.is_item and weights[x.event.type] > 0),
            None,
        )
        if chosen is None:
            return
        try:
            shown = orjson.loads(user.shown)
            items = [entry["item_id"] for entry in shown["items"]]
            version = str(shown["model_version"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return  # an unreadable stored list scores nothing
        out.live.append((version, rank_in_shown(items, chosen, self.settings.live_quality_k)))

    def _commit(self, folded: FoldedBatch, committed: np.ndarray, writes: list[UserWrite]) -> None:
        """Step shared learner state from the committed users' events, once."""
        if not committed.any():
            return
        logits = self.mix.global_logit.copy()
        before = float(logits[0])
        changed = self.model.commit(folded, committed)
        self._pending.mix_prior_delta += float(self.mix.global_logit[0]) - before
        self.surfaces.committed(logits, self.mix)
        ids = self.items.ids
        matrix = self.items.matrix
        for row in changed.tolist():
            self._pending.items[ids[row]] = matrix[row].copy()
        self._add_item_deltas(folded, committed, changed)
        self._pending.events += sum(
            len(w.new_items) for w, ok in zip(writes, committed.tolist(), strict=True) if ok
        )
        if self.ageing is not None:
            for w, ok in zip(writes, committed.tolist(), strict=True):
                if ok:
                    self.ageing.saw(w.new_items)
        shared = folded.shared
        take = committed[shared.event_owner]
        self.trending.add_many(
            shared.event_rows[take], shared.event_ts[take], shared.event_weights[take]
        )
        self._trending_dirty = self._trending_dirty or bool(take.any())

    def _add_item_deltas(
        self, folded: FoldedBatch, committed: np.ndarray, changed: np.ndarray
    ) -> None:
        """Sum the committed steps per changed item into the unsent deltas (new arrays,
        never in place: a SharedWrite on its way holds the old ones)."""
        shared = folded.shared
        take = committed[shared.item_owner]
        rows = shared.item_rows[take]
        if not rows.size:
            return
        sums = np.zeros((changed.size, self.items.dim), np.float32)
        np.add.at(sums, np.searchsorted(changed, rows), shared.item_deltas[take])
        pending, ids = self._pending.item_deltas, self.items.ids
        for i, row in enumerate(changed.tolist()):
            before = pending.get(ids[row])
            pending[ids[row]] = sums[i] if before is None else before + sums[i]

    def _shared_write(self) -> SharedWrite:
        trending = None
        now = time.monotonic()
        due = now - self._trending_saved_at >= self.settings.trending_publish_s
        if due and self._trending_dirty:  # decay alone keeps the order: nothing to save
            rows = self.trending.top(self.settings.top_k)
            if len(rows):
                ids = self.items.ids
                trending = [ids[r] for r in rows.tolist()]
        p = self._pending
        return SharedWrite(
            p.version,
            dict(p.items),
            p.events,
            p.mix_prior_delta,
            trending,
            item_deltas=dict(p.item_deltas),
            surface_prior_deltas=self.surfaces.deltas(),
            social_prior_delta=self.follows.pending,
        )

    def _shared_sent(
        self, shared: SharedWrite, mix_prior: float | None, social_prior: float | None = None
    ) -> None:
        """The shared state of ``shared`` is in Redis now: forget it (keep what came since)."""
        p = self._pending
        for item_id, vector in shared.items.items():
            if p.items.get(item_id) is vector:
                del p.items[item_id]
        for item_id, delta in shared.item_deltas.items():
            now = p.item_deltas.get(item_id)
            if now is delta:
                del p.item_deltas[item_id]
            elif now is not None:  # stepped again since: what is left to send
                p.item_deltas[item_id] = now - delta
        p.events -= shared.events
        p.mix_prior_delta -= shared.mix_prior_delta
        if shared.trending is not None:
            self._trending_saved_at = time.monotonic()
            self._trending_dirty = False  # (a batch in flight holds the lock: nothing new)
        if mix_prior is not None:  # every worker's steps so far, ours included
            self._set_prior(mix_prior)
        self.follows.sent(shared.social_prior_delta, social_prior)

    def _observe_social(self, interests: list[UserInterest], fresh: list[list[_Located]]) -> None:
        """The social weight's gradients from this attempt's chosen items (see follows.py)."""
        self.follows.observe(
            interests,
            self.model.long_term_now,
            fresh,
            self.items.index_of,
            self.items.matrix,
            self.settings.event_weights,
            self.model.config.mix_negatives,
        )

    def _interest(self, user: StoredUser) -> UserInterest:
        current = user.long_term_version == self.model_version
        state = (
            self._long_term_state(user)
            if user.long_term_state_version == self.model_version
            else None
        )
        interest = UserInterest(
            UserVector(self._short_term_now(user), user.last_event_ts),
            tuple(user.recent_items),
            long_term=user.long_term if current else None,
            long_term_state=state,
            mix_offset=user.mix_offset,
            shift_state=_shift_state(user.shift_state),
        )
        interest = self.surfaces.interest(user, interest)
        if self.model.stepper is not None and state is None:
            interest = self.model.restart_long_term(interest)
        return interest

    def _long_term_state(self, user: StoredUser) -> np.ndarray | None:
        """The stored GRU state in the stepper's shape; None if absent or of another shape."""
        stepper, flat = self.model.stepper, user.long_term_state
        if stepper is None or flat is None or flat.size != stepper.layers * stepper.hidden:
            return None
        return flat.reshape(stepper.layers, stepper.hidden)

    def _short_term_now(self, user: StoredUser) -> np.ndarray:
        """The stored vector, re-based if it was made under another item table."""
        dim = self.settings.vector_size
        if user.short_term is None:
            return np.zeros(dim, np.float32)
        if user.model_version in (None, self.model_version):
            return user.short_term
        rows = self.items.rows_of(user.recent_items)
        recent = self.items.matrix[rows] if rows else np.zeros((0, dim), np.float32)
        return rebase(recent, float(np.linalg.norm(user.short_term)))

    def _recommend(self, folded: FoldedBatch, fresh_events: list[list[_Located]]) -> list[bytes]:
        """One recommendation per user, on their state after their last event: one product."""
        users, recent = folded.users, self.settings.explain_recent
        parts = self.follows.mixed(self.model.interest_parts(users), self.mix, users)
        best, scores = self.model.recommend(users, self.settings.top_k, parts)
        rounded = np.round(scores.astype(np.float64), 6).tolist()
        why = self.model.explain(users, best, parts, recent) if recent else None
        emitted = time.time()
        ids = self.items.ids
        version = self.model_version
        out = []
        for row, (fresh, rows) in enumerate(zip(fresh_events, best.tolist(), strict=True)):
            last = fresh[-1].event
            items = [
                {"item_id": ids[i], "score": s}
                for i, s in zip(rows, rounded[row], strict=True)
                if i >= 0
            ]
            message: dict[str, object] = {"user_id": last.user_id, "items": items}
            if why is not None:  # aligned with items; padding (at the end) dropped
                message["why"] = explanation_field(why, row, ids, len(items))
            message.update(
                model_version=version,
                event_id=last.event_id,
                event_ts=last.ts,
                events=len(fresh),
                emitted_ts=emitted,
                surface=self.surfaces.name(users[row]),
            )
            out.append(orjson.dumps(message))
        return out

    def _write(
        self, user: StoredUser, after: UserInterest, fresh: list[_Located], recommendation: bytes
    ) -> UserWrite:
        last = fresh[-1]
        weights = self.settings.event_weights
        return UserWrite(
            before=user,
            short_term=after.short_term.vector,
            last_event_ts=after.short_term.ts or last.event.ts,
            events_applied=user.events_applied + len(fresh),
            recent_items=after.recent,
            topic=last.topic,
            partition=last.partition,
            offset=last.offset,
            model_version=self.model_version,
            recommendations=recommendation,
            # The trainer's input: what the user chose, not what they skipped.
            new_items=[
                x.event.item_id for x in fresh if x.event.is_item and weights[x.event.type] > 0
            ],
            mix_offset=after.mix_offset,
            mix_weight=self.mix.weight(after.mix_offset),
            shift_state=after.shift_state.to_dict() if after.shift_state else None,
            long_term_state=after.long_term_state if self.model.stepper is not None else None,
            surface_mix=self.surfaces.stored(user, after, fresh, self.mix),
        )

    def _shift_message(
        self, folded: FoldedBatch, user: int, at: ShiftAt, fresh: list[_Located]
    ) -> tuple[bytes, bytes]:
        """``to``: the item the user just chose; ``from``: of the user's recent items
        before the drop, the one closest to their long-term interest."""
        long_term = folded.users[user].long_term
        # The fold's index counts item events only (no searches, no follows).
        event = [x.event for x in fresh if x.event.is_item][at.event_index]
        before = [i for i in at.recent[max(1, at.shift.events) :] if i in self.items]
        closest = max(before, key=lambda i: cosine(long_term, self.items.vector(i)), default=None)
        message = {
            "user_id": event.user_id,
            "ts": event.ts,
            "from": closest,
            "to": event.item_id,
            "strength": round(at.shift.strength, 6),
            "event_id": event.event_id,
            "model_version": self.model_version,
        }
        return event.user_id.encode(), orjson.dumps(message)

    async def _reemit(self, replayed: list[tuple[StoredUser, _Located]], out: Outgoing) -> None:
        """A replayed last event may not have had its recommendation produced: send it again."""
        due = [
            user.user_id
            for user, last in replayed
            if (user.last_topic, user.last_partition, user.last_offset)
            == (last.topic, str(last.partition), str(last.offset))
        ]
        if not due:
            return
        stored = await self.store.load_recommendations(due)
        for user_id in due:
            if rec := stored.get(user_id):
                out.recommendations.append((user_id.encode(), rec))

    def dead_letter(self, message: Incoming, reason: str) -> bytes:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason
        )
        return DeadLetter(
            reason,
            message.value,
            message.topic,
            message.partition,
            message.offset,
            self.settings.dlq_raw_max_bytes,
        ).to_json()
