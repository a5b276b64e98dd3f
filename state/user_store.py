"""The workers' view of user state, whatever holds it: the :class:`UserStore` interface.

The Redis store (``state.store``) implements it for production; tests use an
in-memory one. A batch reads its users in one call and writes them, with the
learner state every worker shares, in one more.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import orjson

from state.codec import encode_json, encode_vector
from state.erasure import ErasureFence
from state.followees import FollowOp, follow_values


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
    mix_offset: float = 0.0
    shift_state: dict[str, float] | None = None
    long_term: np.ndarray | None = None
    long_term_version: str | None = None
    long_term_state: np.ndarray | None = None  # flat; the stepper knows its shape
    long_term_state_version: str | None = None
    # The user's erasure fence as stored ("" none): a write commits only while it is unchanged.
    erasure: str = ""
    fence: ErasureFence | None = None  # the same, decoded
    # The recommendation last written (raw JSON): what the user was last shown.
    shown: bytes | None = None
    # Mix-weight offsets on the non-default surfaces, by name (the ``surface_mix`` field).
    surface_mix: dict[str, float] = field(default_factory=dict)
    # The mean interest of the user's followees and when it was computed (state.followees).
    social: np.ndarray | None = None
    social_at: float | None = None

    def already_applied(self, topic: str, partition: int, offset: int) -> bool:
        """True for an event at or before the last one applied (a replay), or one
        that was in the log when the user was erased (never applied again).

        Offsets only order events of one topic partition; an event from
        another one (a repartitioned or different topic) is always new.
        """
        if self.fence is not None and self.fence.covers(topic, partition, offset):
            return True
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
    surface_mix: bytes = b""  # JSON (encode_surface_mix); empty: the field is left as it is
    # Follows and unfollows of the batch (the followee set), and a refreshed social vector.
    follows: Sequence[FollowOp] = ()
    followee_bound: int = 0
    social: np.ndarray | None = None
    social_at: float | None = None

    def packed(self, history_length: int) -> bytes:
        """The write script's argument for this user: the number of values and each
        one's length (4-byte little-endian), then the values, in the script's
        order; all as bytes, since this runs per user."""
        values = [
            self.before.last_topic.encode(),
            self.before.last_partition.encode(),
            self.before.last_offset.encode(),
            self.before.erasure.encode(),
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
            self.surface_mix,
            *self._social_args(),
            *follow_values(self.follows, self.followee_bound),
            *(item.encode() for item in self.new_items[-history_length:]),
        ]
        lengths = [len(v) for v in values]
        return struct.pack(f"<{len(values) + 1}I", len(values), *lengths) + b"".join(values)

    def _long_term_args(self) -> tuple[bytes, bytes]:
        if self.long_term_state is None:
            return b"", b""
        return encode_vector(self.long_term_state.ravel()), self.model_version.encode()

    def _social_args(self) -> tuple[bytes, bytes]:
        if self.social is None or self.social_at is None:
            return b"", b""
        return encode_vector(self.social), repr(self.social_at).encode()


@dataclass(frozen=True, slots=True)
class SharedWrite:
    """Learner state shared by all workers, from writes already committed.

    Sent with the next batch's user writes, so it costs no round trip of its own.
    """

    model_version: str
    items: Mapping[str, np.ndarray] = field(default_factory=dict)
    events: int = 0  # chosen items appended to histories (the trainer's trigger)
    mix_prior_delta: float = 0.0  # added to the shared prior (every worker adds its own)
    trending: Sequence[str] | None = None  # this worker's trending items, when due
    # Per item, the sum of this worker's committed steps since its last send: added
    # to the stored vector in Redis (add_item_deltas.lua), so concurrent workers'
    # steps to one item all count; ``items`` then holds the worker's whole vector,
    # stored only where Redis has none yet. Items without a delta are stored whole.
    item_deltas: Mapping[str, np.ndarray] = field(default_factory=dict)
    # Per non-default surface: added to that surface's shared prior (as mix_prior_delta).
    surface_prior_deltas: Mapping[str, float] = field(default_factory=dict)
    social_prior_delta: float = 0.0  # added to the social part's shared weight (logit)

    def __bool__(self) -> bool:
        return (
            bool(self.surface_prior_deltas)
            or bool(self.items)
            or bool(self.item_deltas)
            or bool(self.events)
            or bool(self.mix_prior_delta)
            or bool(self.social_prior_delta)
            or (self.trending is not None)
        )


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """Per user: True written, False lost the compare-and-set, None refused (an outage)."""

    committed: list[bool | None]
    refusal: str | None = None  # why some were refused
    mix_prior: float | None = None  # the shared prior after this write, when it was sent
    shared_written: bool = True  # False: send the shared state again with the next write
    social_prior: float | None = None  # the social weight's shared change, when it was sent
    surface_priors: Mapping[str, float] = field(default_factory=dict)  # as mix_prior, per surface


def encode_surface_mix(offsets: Mapping[str, float], weights: Mapping[str, float]) -> bytes:
    """The ``surface_mix`` field: ``{surface: {"offset", "weight"}}`` of the non-default
    surfaces a user acted on (the default surface's are ``mix_offset``/``mix_weight``).

    >>> encode_surface_mix({"search": -0.5}, {"search": 0.25})
    b'{"search":{"offset":-0.5,"weight":0.25}}'
    """
    body = {s: {"offset": float(o), "weight": float(weights[s])} for s, o in offsets.items()}
    return encode_json(body)


def decode_surface_mix(raw: bytes | None) -> dict[str, float]:
    """The offsets of a stored ``surface_mix`` field; an unreadable one counts as none.

    >>> decode_surface_mix(b'{"search":{"offset":-0.5,"weight":0.25}}')
    {'search': -0.5}
    """
    return {s: v[0] for s, v in surface_mix_entries(raw).items()}


def surface_mix_entries(raw: bytes | None) -> dict[str, tuple[float, float]]:
    """``{surface: (offset, weight)}`` of a stored ``surface_mix`` field."""
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
        return {
            str(s): (float(v["offset"]), float(v["weight"]))
            for s, v in body.items()
            if isinstance(v, dict)
        }
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return {}


class UserStore(Protocol):
    """What the worker's batch path and catalogue path need from a store.

    Outages (unreachable, read-only, loading, out of memory, ...) raise
    :class:`state.errors.StoreUnavailable`, or mark users ``None`` in a
    :class:`WriteOutcome`: the caller waits and tries again.
    """

    async def prepare(self) -> None:
        """Load what later calls rely on (the write script)."""

    async def load_users(
        self, user_ids: Sequence[str], shown: bool = False
    ) -> dict[str, StoredUser]:
        """The users as stored; ``shown`` adds the last recommendation (for live quality)."""
        ...

    async def load_recommendations(self, user_ids: Sequence[str]) -> dict[str, bytes | None]:
        """The stored recommendation of each user (re-emitted for a replayed last event)."""
        ...

    async def write(self, writes: Sequence[UserWrite], shared: SharedWrite) -> WriteOutcome: ...

    async def model_version(self, default: str) -> str: ...

    async def load_items(self, model_version: str) -> dict[str, np.ndarray]: ...

    async def item_changes_cursor(self, model_version: str) -> str:
        """Where the version's item change log ends now (taken before :meth:`load_items`)."""
        ...

    async def load_changed_items(
        self, model_version: str, cursor: str
    ) -> tuple[dict[str, np.ndarray], str]:
        """The vectors of the version's items written since ``cursor`` (some before it
        too), and the cursor after them: a reload without reading every item."""
        ...

    async def load_long_term_items(self, model_version: str) -> dict[str, np.ndarray]:
        """The version's item vectors as trained (``{}`` for a version published without)."""
        ...

    async def load_gru_step(self, model_version: str) -> bytes | None: ...

    async def load_projection(self, model_version: str) -> bytes | None: ...

    async def load_unavailable(self) -> set[str]: ...

    async def load_mix_prior(self) -> float: ...

    async def load_surface_priors(self, surfaces: Sequence[str]) -> dict[str, float]: ...

    async def save_catalog(
        self, entries: Mapping[str, bytes], available: Mapping[str, bool]
    ) -> None: ...

    async def add_new_items(
        self, model_version: str, vectors: Mapping[str, np.ndarray]
    ) -> None: ...

    async def aclose(self) -> None: ...
