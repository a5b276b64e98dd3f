"""Applies a batch of interaction messages to user state and scores them.

The commit order per batch (the README's "Guarantees" says why):

1. decode; rejected messages become dead letters;
2. load the batch's users (one pipelined round trip), skip replays by offset;
3. fold each user's events through the short-term learner and the online
   item factors; score top-K after every applied event, all in one matrix
   product;
4. write each user's state, recommendations and last offset atomically
   (compare-and-set, retried on conflict);
5. save the changed item vectors;
6. return the recommendations and dead letters for the caller to produce,
   and only then does the caller ack the messages.

A crash after 4 and before 6 loses no recommendation: the replayed last event
of a user re-emits the stored one.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson

from models import ItemTable, UserVector
from models.blend import cosine
from models.cold_start import at_length, typical_norm
from models.content_projection import ContentProjection, ItemFeatures, hash_features
from models.gru_step import GRUStepper
from models.interest_model import InterestConfig, InterestModel, UserInterest
from models.interest_shift import ShiftState
from models.item_table import TRAINED_SPACE_NEW_ITEM_SCALE
from models.short_term import rebase
from models.trending import TrendingItems
from state import StoredUser, UserStateStore, UserWrite
from streams.settings import Settings
from streams.worker.dead_letter import DeadLetter
from streams.worker.events import Event, EventRules, Rejection, decode_event

log = logging.getLogger(__name__)

ONLINE_MODEL_VERSION = "online"


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
    except ValueError:
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


MAX_WRITE_ATTEMPTS = 10


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


@dataclass(frozen=True, slots=True)
class _Located:
    event: Event
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class _Step:
    """The user's state right after one event: what its recommendation scores."""

    located: _Located
    interest: UserInterest


@dataclass(frozen=True, slots=True)
class _Folded:
    user: StoredUser
    steps: list[_Step]
    interest: UserInterest


class InterestUpdater:
    """Owns a worker's item table and learners; state itself lives in Redis."""

    def __init__(self, settings: Settings, store: UserStateStore) -> None:
        self.settings = settings
        self.store = store
        self.rules = EventRules(
            frozenset(settings.event_weights), settings.max_event_bytes, settings.max_future_skew_s
        )
        self.items = ItemTable(settings.vector_size, settings.seed)
        self.model = InterestModel(self.items, interest_config(settings))
        self.model_version = ONLINE_MODEL_VERSION
        self._items_loaded_at = 0.0
        self._version_checked_at = 0.0
        self.projection: ContentProjection | None = None
        self._cold_items: dict[str, np.ndarray] = {}
        self.trending = TrendingItems(settings.trending_half_life_s)
        self._trending_saved_at = 0.0

    async def refresh_items(self, force: bool = False) -> None:
        """Swap to a newly published model, or reload what other workers learned.

        Runs between batches, so no event sees half of a swap.
        """
        now = time.monotonic()
        if force or now - self._version_checked_at >= self.settings.model_poll_s:
            self._version_checked_at = now
            version = await self.store.model_version(ONLINE_MODEL_VERSION)
            if version != self.model_version and await self._swap(version):
                return
        if force or now - self._items_loaded_at >= self.settings.item_refresh_s:
            self.items.load(await self.store.load_items(self.model_version))
            self._items_loaded_at = now

    async def add_catalog(self, entries: Sequence[Incoming]) -> Outgoing:
        """Items from the ``items`` topic: saved, and placed by the content projection."""
        out, catalog = Outgoing(), {}
        for message in entries:
            entry = _catalog_entry(message)
            if isinstance(entry, str):
                out.dead_letters.append((message.key, self._dead_letter(message, entry)))
                continue
            item_id, features, raw, available = entry
            catalog[item_id] = raw
            row = self.items.index_of(item_id) if item_id in self.items else None
            if not available:
                self.model.unavailable.add(self.items.index_of(item_id))
            elif row is not None:
                self.model.unavailable.discard(row)
            if self.projection is not None and item_id not in self.items:
                placed = self.projection.project(hash_features(features))
                self.items.set_vector(item_id, at_length(placed, typical_norm(self.items.matrix)))
                self._cold_items[item_id] = self.items.vector(item_id)
        await self.store.save_catalog(catalog)
        await self.store.add_new_items(self.model_version, self._cold_items)
        self._cold_items.clear()
        return out

    async def _swap(self, version: str) -> bool:
        """Score with ``version``'s item table from now on; keep the old one if it is unusable."""
        vectors = await self.store.load_items(version)
        if not vectors:
            log.error(
                "model %s has no %d-dim item vectors in Redis; staying on %s",
                version,
                self.settings.vector_size,
                self.model_version,
            )
            return False
        items = ItemTable(
            self.settings.vector_size,
            self.settings.seed,
            new_item_scale=TRAINED_SPACE_NEW_ITEM_SCALE,
        )
        items.load(vectors)
        stepper = await self._load_stepper(version)
        self.items = items
        self.model = InterestModel(
            items, interest_config(self.settings), mix=self.model.mix, stepper=stepper
        )
        log.info(
            "swapped model %s -> %s (%d items, long-term %s)",
            self.model_version,
            version,
            len(items),
            "stepped per event" if stepper else "from the trainer only",
        )
        self.model_version = version
        self.trending = TrendingItems(self.settings.trending_half_life_s)  # rows changed
        self._items_loaded_at = time.monotonic()
        raw = await self.store.load_projection(version)
        self.projection = ContentProjection.from_bytes(raw) if raw else None
        return True

    async def _load_stepper(self, version: str) -> GRUStepper | None:
        """The version's GRU step; without one, long-term vectors change only at refreshes."""
        raw = await self.store.load_gru_step(version)
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

    async def apply(self, batch: Sequence[Incoming]) -> Outgoing:
        out = Outgoing()
        by_user: dict[str, list[_Located]] = defaultdict(list)
        now = time.time()
        for message in batch:
            decoded = decode_event(message.value, self.rules, now)
            if isinstance(decoded, Rejection):
                out.dead_letters.append((message.key, self._dead_letter(message, decoded.reason)))
            else:
                by_user[decoded.user_id].append(
                    _Located(decoded, message.topic, message.partition, message.offset)
                )
        await self.refresh_items()
        pending = dict(by_user)
        for _ in range(MAX_WRITE_ATTEMPTS):
            if not pending:
                break
            pending = await self._apply_users(pending, out)
        if pending:
            raise RuntimeError(f"{len(pending)} users kept conflicting; another writer is active")
        await self._save_trending()
        return out

    async def _save_trending(self) -> None:
        """This worker's partitions are a random sample of users: its trend is everyone's."""
        now = time.monotonic()
        if now - self._trending_saved_at < self.settings.trending_publish_s:
            return
        self._trending_saved_at = now
        rows = self.trending.top(self.settings.top_k)
        if len(rows):
            ids = self.items.ids
            await self.store.save_trending([ids[r] for r in rows.tolist()], self.model_version)

    async def _apply_users(
        self, by_user: dict[str, list[_Located]], out: Outgoing
    ) -> dict[str, list[_Located]]:
        stored = await self.store.load_users(by_user)
        folded: list[_Folded] = []
        changed_items: set[str] = set()
        for user_id, located in by_user.items():
            user = stored[user_id]
            fresh = [x for x in located if not user.already_applied(x.topic, x.partition, x.offset)]
            out.skipped += len(located) - len(fresh)
            if fresh:
                folded.append(self._fold(user, fresh, changed_items))
            else:
                self._reemit_if_last(user, located, out)
        messages = self._recommend(folded)
        writes = [self._write(f, m[-1]) for f, m in zip(folded, messages, strict=True)]
        results = await self.store.write_users(writes)
        retry: dict[str, list[_Located]] = {}
        for ok, fold, user_messages in zip(results, folded, messages, strict=True):
            user_id = fold.user.user_id
            if ok:
                out.applied += len(fold.steps)
                out.recommendations += [(user_id.encode(), m) for m in user_messages]
                out.shifts += [self._shift_message(s) for s in fold.steps if s.interest.shift]
            else:
                retry[user_id] = by_user[user_id]
        await self.store.save_items(
            self.model_version, {i: self.items.vector(i) for i in changed_items}
        )
        return retry

    def _fold(self, user: StoredUser, fresh: list[_Located], changed_items: set[str]) -> _Folded:
        """Apply the user's new events in order, keeping each intermediate state."""
        current = user.long_term_version == self.model_version
        state_current = user.long_term_state_version == self.model_version
        state = self._long_term_state(user) if state_current else None
        interest = UserInterest(
            UserVector(self._short_term_now(user), user.last_event_ts),
            tuple(user.recent_items),
            long_term=user.long_term if current else None,
            long_term_state=state,
            mix_offset=user.mix_offset,
            shift_state=_shift_state(user.shift_state),
        )
        if self.model.stepper is not None and state is None:
            interest = self.model.restart_long_term(interest)
        steps: list[_Step] = []
        for x in fresh:
            interest, changed = self.model.apply(
                interest, x.event.item_id, x.event.type, x.event.ts, sample_key=x.offset
            )
            changed_items.update(changed)
            steps.append(_Step(x, interest))
            weight = self.settings.event_weights[x.event.type]
            self.trending.add(self.items.index_of(x.event.item_id), x.event.ts, weight)
        return _Folded(user, steps, interest)

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
        rows = [r for r in map(self.items.get_index, user.recent_items) if r is not None]
        recent = self.items.matrix[rows] if rows else np.zeros((0, dim), np.float32)
        return rebase(recent, float(np.linalg.norm(user.short_term)))

    def _recommend(self, folded: list[_Folded]) -> list[list[bytes]]:
        """One recommendation per applied event, all scored in one product."""
        steps = [step for fold in folded for step in fold.steps]
        if not steps:
            return []
        best, scores = self.model.recommend([step.interest for step in steps], self.settings.top_k)
        emitted = time.time()
        ids = self.items.ids
        flat = [
            orjson.dumps(
                {
                    "user_id": step.located.event.user_id,
                    "items": [
                        {"item_id": ids[i], "score": round(float(s), 6)}
                        for i, s in zip(best[row].tolist(), scores[row].tolist(), strict=True)
                        if i >= 0
                    ],
                    "model_version": self.model_version,
                    "event_id": step.located.event.event_id,
                    "event_ts": step.located.event.ts,
                    "emitted_ts": emitted,
                }
            )
            for row, step in enumerate(steps)
        ]
        out, start = [], 0
        for fold in folded:
            out.append(flat[start : start + len(fold.steps)])
            start += len(fold.steps)
        return out

    def _write(self, fold: _Folded, recommendation: bytes) -> UserWrite:
        last = fold.steps[-1].located
        stepped = self.model.stepper is not None
        return UserWrite(
            before=fold.user,
            short_term=fold.interest.short_term.vector,
            last_event_ts=fold.interest.short_term.ts or last.event.ts,
            events_applied=fold.user.events_applied + len(fold.steps),
            recent_items=fold.interest.recent,
            topic=last.topic,
            partition=last.partition,
            offset=last.offset,
            model_version=self.model_version,
            recommendations=recommendation,
            # The trainer's input: what the user chose, not what they skipped.
            new_items=[
                step.located.event.item_id
                for step in fold.steps
                if self.settings.event_weights[step.located.event.type] > 0
            ],
            mix_offset=fold.interest.mix_offset,
            mix_weight=self.model.mix.weight(fold.interest.mix_offset),
            shift_state=fold.interest.shift_state.to_dict() if fold.interest.shift_state else None,
            long_term_state=fold.interest.long_term_state if stepped else None,
        )

    def _shift_message(self, step: _Step) -> tuple[bytes, bytes]:
        """``to``: the item the user just chose; ``from``: of the user's recent items
        before the drop, the one closest to their long-term interest."""
        interest, event = step.interest, step.located.event
        assert interest.shift is not None and interest.long_term is not None
        before = [i for i in interest.recent[max(1, interest.shift.events) :] if i in self.items]
        closest = max(
            before, key=lambda i: cosine(interest.long_term, self.items.vector(i)), default=None
        )
        message = {
            "user_id": event.user_id,
            "ts": event.ts,
            "from": closest,
            "to": event.item_id,
            "strength": round(interest.shift.strength, 6),
            "event_id": event.event_id,
            "model_version": self.model_version,
        }
        return event.user_id.encode(), orjson.dumps(message)

    @staticmethod
    def _reemit_if_last(user: StoredUser, located: list[_Located], out: Outgoing) -> None:
        """A replayed last event may not have had its recommendation produced."""
        last = located[-1]
        stamp = (user.last_topic, user.last_partition, user.last_offset)
        if user.recommendations and stamp == (last.topic, str(last.partition), str(last.offset)):
            out.recommendations.append((user.user_id.encode(), user.recommendations))

    def _dead_letter(self, message: Incoming, reason: str) -> bytes:
        log.warning(
            "dead-lettering %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason
        )
        return DeadLetter(
            reason, message.value, message.topic, message.partition, message.offset
        ).to_json()
