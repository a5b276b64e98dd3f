"""The interaction event: decoding and validation of the bytes on the topic.

Decoding never raises: it returns an :class:`Event` or a :class:`Rejection`
whose reason goes to the dead-letter topic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from models.surfaces import DEFAULT_SURFACES, check_surface_name

MAX_ID_LENGTH = 256
SEARCH = "search"
"""The event type that carries a ``query`` instead of an ``item_id``."""
MAX_QUERY_LENGTH = 512
"""Longest search query in characters; a longer one is dead-lettered, not cut."""
FOLLOW_TYPES = frozenset({"follow", "unfollow"})
"""Event types that carry a ``target_user_id`` instead of an ``item_id`` (always accepted:
they have no weight, see streams/worker/follows.py)."""


@dataclass(frozen=True, slots=True)
class Event:
    """A valid interaction: who did what to which item, when (epoch seconds)."""

    user_id: str
    item_id: str
    type: str
    ts: float
    event_id: str | None = None
    query: str | None = None  # search events only; their item_id is ""
    surface: str | None = None  # context.surface as sent (validated); None: the default one
    target_user_id: str | None = None  # follow/unfollow events only; their item_id is ""

    @property
    def is_item(self) -> bool:
        """Whether the event names an item (a search names a query, a follow a user)."""
        return self.query is None and self.target_user_id is None

    @property
    def is_search(self) -> bool:
        return self.query is not None

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"user_id": self.user_id, "type": self.type, "ts": self.ts}
        if self.is_item:
            body["item_id"] = self.item_id
        elif self.target_user_id is not None:
            body["target_user_id"] = self.target_user_id
        else:
            body["query"] = self.query
        if self.event_id is not None:
            body["event_id"] = self.event_id
        if self.surface is not None:
            body["context"] = {"surface": self.surface}
        return orjson.dumps(body)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why some bytes are not an event; the reason is shown to operators."""

    reason: str


class _Invalid(Exception):
    pass


@dataclass(frozen=True, slots=True)
class EventRules:
    """What a valid event looks like; built from the settings."""

    event_types: frozenset[str]
    max_event_bytes: int = 65536
    max_future_skew_s: float = 300.0
    surfaces: tuple[str, ...] = DEFAULT_SURFACES  # known ``context.surface`` names


def decode_event(
    raw: bytes | None, rules: EventRules, now: float | None = None
) -> Event | Rejection:
    """Decode and validate one message value.

    >>> rules = EventRules(frozenset({"click"}))
    >>> event = decode_event(b'{"user_id": 4, "item_id": "i", "type": "click", "ts": 1.5}', rules)
    >>> event  # doctest: +ELLIPSIS
    Event(user_id='4', item_id='i', type='click', ts=1.5, event_id=None, query=None, ...)
    >>> decode_event(b'{"user_id": 4, "type": "click"}', rules)
    Rejection(reason='missing item_id')
    """
    try:
        return _decode(raw, rules, time.time() if now is None else now)
    except _Invalid as exc:
        return Rejection(str(exc))


def _decode(raw: bytes | None, rules: EventRules, now: float) -> Event:
    if not raw:
        raise _Invalid("empty message")
    if len(raw) > rules.max_event_bytes:
        raise _Invalid(f"event of {len(raw)} bytes exceeds the {rules.max_event_bytes}-byte limit")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Invalid(f"not JSON: {exc}") from None
    if not isinstance(body, Mapping):
        raise _Invalid(f"event is a JSON {type(body).__name__}, not an object")
    event_type = body.get("type")
    if not isinstance(event_type, str) or (
        event_type not in rules.event_types and event_type not in FOLLOW_TYPES
    ):
        raise _Invalid(f"unknown event type {event_type!r}")
    user_id = _identifier(body, "user_id")
    is_search = event_type == SEARCH
    is_follow = event_type in FOLLOW_TYPES
    return Event(
        user_id=user_id,
        item_id="" if is_search or is_follow else _identifier(body, "item_id"),
        type=event_type,
        ts=_timestamp(body.get("ts"), now, rules.max_future_skew_s),
        event_id=_optional_identifier(body, "event_id"),
        query=_query(body) if is_search else None,
        surface=_surface(body, rules.surfaces),
        target_user_id=_target(body, event_type, user_id) if is_follow else None,
    )


def _target(body: Mapping[str, Any], event_type: str, user_id: str) -> str:
    """A follow's or unfollow's ``target_user_id``: an identifier that is not the user."""
    if body.get("target_user_id") is None:
        raise _Invalid(f"{event_type} event without a target_user_id")
    target = _identifier(body, "target_user_id")
    if target == user_id:
        raise _Invalid(f"{event_type} of oneself (target_user_id is the user_id)")
    return target


def _surface(body: Mapping[str, Any], known: tuple[str, ...]) -> str | None:
    """``context.surface``: None when absent (the default surface), else a known name."""
    context = body.get("context")
    if context is None:
        return None
    if not isinstance(context, Mapping):
        raise _Invalid(f"context must be a JSON object, not {type(context).__name__}")
    value = context.get("surface")
    if value is None:
        return None
    try:
        name = check_surface_name(value)
    except ValueError as exc:
        raise _Invalid(f"context.{exc}") from None
    if name not in known:
        raise _Invalid(f"unknown surface {name!r} (known: {', '.join(known)})")
    return name


def _query(body: Mapping[str, Any]) -> str:
    """A search's query text: a non-empty string of at most :data:`MAX_QUERY_LENGTH`."""
    value = body.get("query")
    if value is None:
        raise _Invalid("search event without a query")
    if not isinstance(value, str):
        raise _Invalid(f"query must be a string, not {type(value).__name__}")
    text = " ".join(value.split())
    if not text:
        raise _Invalid("empty query")
    if len(text) > MAX_QUERY_LENGTH:
        raise _Invalid(f"query longer than {MAX_QUERY_LENGTH} characters")
    return text


def _identifier(body: Mapping[str, Any], name: str) -> str:
    if name not in body or body[name] is None:
        raise _Invalid(f"missing {name}")
    value = _optional_identifier(body, name)
    if not value:
        raise _Invalid(f"empty {name}")
    return value


def _optional_identifier(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(f"{name} must be a string or an integer, not {type(value).__name__}")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_ID_LENGTH:
        raise _Invalid(f"{name} longer than {MAX_ID_LENGTH} characters")
    return text


def _timestamp(value: Any, now: float, max_future_skew_s: float) -> float:
    if value is None:
        raise _Invalid("missing ts")
    if isinstance(value, bool):
        raise _Invalid("ts must be epoch seconds or ISO-8601, not a boolean")
    if isinstance(value, int | float):
        ts = float(value)
    elif isinstance(value, str):
        ts = _parse_iso(value)
    else:
        raise _Invalid(f"ts must be epoch seconds or ISO-8601, not {type(value).__name__}")
    if not math.isfinite(ts) or ts < 0:
        raise _Invalid(f"ts {value!r} is not a finite time after 1970")
    if ts > now + max_future_skew_s:
        raise _Invalid(f"ts {value!r} is more than {max_future_skew_s:g}s in the future")
    return ts


def _parse_iso(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _Invalid(f"ts {text[:64]!r} is neither epoch seconds nor ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise _Invalid(f"ts {text[:64]!r} is out of range") from None
