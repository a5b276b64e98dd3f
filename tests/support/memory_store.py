"""An in-memory :class:`state.UserStore` for unit tests of the batch and catalogue paths.

It keeps what the Redis store keeps, with the same compare-and-set rule (the
offset stamp and the erasure fence, moved by :meth:`MemoryStore.forget`), and
can be told to fail: ``outages`` (calls that raise StoreUnavailable),
``refusals`` (writes whose users are refused, as Redis does when read-only or
out of memory) and ``conflicts`` (users whose next write loses the
compare-and-set because "someone else" wrote them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import orjson

from state import SharedWrite, StoredUser, StoreUnavailable, UserWrite, WriteOutcome
from state.codec import decode_vector, encode_vector
from state.erasure import ErasureFence
from state.followees import after_ops
from state.user_store import decode_surface_mix


@dataclass
class MemoryStore:
    users: dict[str, StoredUser] = field(default_factory=dict)
    recommendations: dict[str, bytes] = field(default_factory=dict)
    histories: dict[str, list[str]] = field(default_factory=dict)
    items: dict[str, dict[str, bytes]] = field(default_factory=dict)
    long_term_items: dict[str, dict[str, bytes]] = field(default_factory=dict)
    item_changes: dict[str, list[list[str]]] = field(default_factory=dict)  # version -> entries
    catalog: dict[str, bytes] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    mix_prior: float = 0.0
    surface_priors: dict[str, float] = field(default_factory=dict)  # non-default surfaces
    social_prior: float = 0.0
    followees: dict[str, dict[str, float]] = field(default_factory=dict)
    events_total: int = 0
    trending: list[str] | None = None
    version: str | None = None
    gru_steps: dict[str, bytes] = field(default_factory=dict)
    projections: dict[str, bytes] = field(default_factory=dict)
    outages: int = 0  # the next this many calls raise StoreUnavailable
    refusals: int = 0  # the next this many writes refuse every user
    conflicts: set[str] = field(default_factory=set)  # users whose next write conflicts
    fences: dict[str, ErasureFence] = field(default_factory=dict)  # no TTL here
    writes: int = 0  # write calls that reached the store
    reads: int = 0

    def _maybe_fail(self) -> None:
        if self.outages > 0:
            self.outages -= 1
            raise StoreUnavailable("ConnectionError: injected outage")

    async def prepare(self) -> None:
        self._maybe_fail()

    async def load_users(
        self, user_ids: Sequence[str], shown: bool = False
    ) -> dict[str, StoredUser]:
        self._maybe_fail()
        self.reads += 1
        out = {}
        for u in user_ids:
            user = self.users.get(u) or StoredUser(u)
            out[u] = replace(
                user,
                erasure=self._fence(u),
                fence=self.fences.get(u),
                shown=user.shown if shown else None,
            )
        return out

    def forget(self, user_id: str, fence: ErasureFence | None = None) -> bool:
        """What ``InterestReader.forget`` does to Redis: delete the user, store the fence."""
        held = self.users.pop(user_id, None) is not None
        held |= self.histories.pop(user_id, None) is not None
        held |= self.followees.pop(user_id, None) is not None
        self.recommendations.pop(user_id, None)
        self.fences[user_id] = fence or ErasureFence.new("", {})
        return held

    def _fence(self, user_id: str) -> str:
        fence = self.fences.get(user_id)
        return fence.encode().decode() if fence else ""

    async def load_recommendations(self, user_ids: Sequence[str]) -> dict[str, bytes | None]:
        self._maybe_fail()
        return {u: self.recommendations.get(u) for u in user_ids}

    async def write(self, writes: Sequence[UserWrite], shared: SharedWrite) -> WriteOutcome:
        self._maybe_fail()
        self.writes += 1
        if self.refusals > 0:
            self.refusals -= 1
            return WriteOutcome([None] * len(writes), "OutOfMemoryError: injected", None, False)
        committed: list[bool | None] = []
        for write in writes:
            user_id = write.before.user_id
            if user_id in self.conflicts:
                self.conflicts.discard(user_id)
                current = self.users.get(user_id) or StoredUser(user_id)
                # Someone else applied an unrelated event: the stamp moved.
                self.users[user_id] = replace(current, last_topic="other", last_offset="0")
                committed.append(False)
                continue
            current = self.users.get(user_id) or StoredUser(user_id)
            stamp = (
                current.last_topic,
                current.last_partition,
                current.last_offset,
                self._fence(user_id),
            )
            before = (
                write.before.last_topic,
                write.before.last_partition,
                write.before.last_offset,
                write.before.erasure,
            )
            if stamp != before:
                committed.append(False)
                continue
            self.users[user_id] = _stored(write)
            self.recommendations[user_id] = write.recommendations
            self.histories.setdefault(user_id, []).extend(write.new_items)
            if write.follows:  # as apply_user.lua does
                held = self.followees.get(user_id, {})
                self.followees[user_id] = after_ops(held, write.follows, write.followee_bound)
            committed.append(True)
        mix_prior = None
        version_items = self.items.setdefault(shared.model_version, {})
        version_items.update(
            {i: encode_vector(v) for i, v in shared.items.items() if i not in shared.item_deltas}
        )
        for item_id, delta in shared.item_deltas.items():  # as add_item_deltas.lua does
            stored = version_items.get(item_id)
            whole = shared.items.get(item_id, delta)
            version_items[item_id] = encode_vector(
                whole if stored is None else decode_vector(stored) + delta
            )
        if shared.items or shared.item_deltas:
            changed = list(dict.fromkeys([*shared.items, *shared.item_deltas]))
            self.item_changes.setdefault(shared.model_version, []).append(changed)
        self.events_total += shared.events
        if shared.mix_prior_delta:
            self.mix_prior += shared.mix_prior_delta
            mix_prior = self.mix_prior
        surface_priors = {}
        for surface, delta in shared.surface_prior_deltas.items():
            self.surface_priors[surface] = self.surface_priors.get(surface, 0.0) + delta
            surface_priors[surface] = self.surface_priors[surface]
        if shared.trending is not None:
            self.trending = list(shared.trending)
        social_prior = None
        if shared.social_prior_delta:
            self.social_prior += shared.social_prior_delta
            social_prior = self.social_prior
        return WriteOutcome(
            committed,
            None,
            mix_prior,
            True,
            surface_priors=surface_priors,
            social_prior=social_prior,
        )

    async def model_version(self, default: str) -> str:
        self._maybe_fail()
        return self.version or default

    async def load_items(self, model_version: str) -> dict[str, np.ndarray]:
        self._maybe_fail()
        return {i: decode_vector(v) for i, v in self.items.get(model_version, {}).items()}

    async def item_changes_cursor(self, model_version: str) -> str:
        self._maybe_fail()
        return str(len(self.item_changes.get(model_version, [])))

    async def load_changed_items(
        self, model_version: str, cursor: str
    ) -> tuple[dict[str, np.ndarray], str]:
        self._maybe_fail()
        entries = self.item_changes.get(model_version, [])
        stored = self.items.get(model_version, {})
        ids = {i for entry in entries[int(cursor) :] for i in entry if i in stored}
        return {i: decode_vector(stored[i]) for i in ids}, str(len(entries))

    async def load_long_term_items(self, model_version: str) -> dict[str, np.ndarray]:
        self._maybe_fail()
        stored = self.long_term_items.get(model_version, {})
        return {i: decode_vector(v) for i, v in stored.items()}

    async def load_gru_step(self, model_version: str) -> bytes | None:
        self._maybe_fail()
        return self.gru_steps.get(model_version)

    async def load_projection(self, model_version: str) -> bytes | None:
        self._maybe_fail()
        return self.projections.get(model_version)

    async def load_unavailable(self) -> set[str]:
        self._maybe_fail()
        return set(self.unavailable)

    async def load_mix_prior(self) -> float:
        self._maybe_fail()
        return self.mix_prior

    async def load_surface_priors(self, surfaces: Sequence[str]) -> dict[str, float]:
        self._maybe_fail()
        return {s: self.surface_priors.get(s, 0.0) for s in surfaces}

    async def save_catalog(
        self, entries: Mapping[str, bytes], available: Mapping[str, bool]
    ) -> None:
        self._maybe_fail()
        self.catalog.update(entries)
        self.unavailable |= {i for i, ok in available.items() if not ok}
        self.unavailable -= {i for i, ok in available.items() if ok}

    async def add_new_items(self, model_version: str, vectors: Mapping[str, np.ndarray]) -> None:
        self._maybe_fail()
        table = self.items.setdefault(model_version, {})
        trained = self.long_term_items.setdefault(model_version, {})
        for item_id, vector in vectors.items():
            table.setdefault(item_id, encode_vector(vector))
            trained.setdefault(item_id, encode_vector(vector))
        if vectors:
            self.item_changes.setdefault(model_version, []).append(list(vectors))

    async def aclose(self) -> None:
        pass


def _stored(write: UserWrite) -> StoredUser:
    stepped = write.long_term_state is not None
    return StoredUser(
        user_id=write.before.user_id,
        short_term=np.array(write.short_term, np.float32),
        last_event_ts=write.last_event_ts,
        events_applied=write.events_applied,
        recent_items=list(write.recent_items),
        last_topic=write.topic,
        last_partition=str(write.partition),
        last_offset=str(write.offset),
        model_version=write.model_version,
        mix_offset=write.mix_offset,
        shift_state=orjson.loads(orjson.dumps(write.shift_state)) if write.shift_state else None,
        long_term=write.before.long_term,
        long_term_version=write.before.long_term_version,
        long_term_state=write.long_term_state.ravel() if stepped else write.before.long_term_state,  # type: ignore[union-attr]
        long_term_state_version=write.model_version
        if stepped
        else write.before.long_term_state_version,
        shown=write.recommendations,
        surface_mix=decode_surface_mix(write.surface_mix)
        if write.surface_mix
        else dict(write.before.surface_mix),
        social=write.social if write.social_at is not None else write.before.social,
        social_at=write.social_at if write.social_at is not None else write.before.social_at,
    )
