"""What the dashboard reads from Redis: a sample of recent users, the model
registry, trending items and catalogue figures, and one user's page. Reads are
bounded (a capped SCAN, HMGET of a few fields), so a page load costs the same
on a thousand users as on ten million."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from models.shadow import ShadowTally
from state import InterestReader
from state.client import UserState
from state.model_registry import version_name, version_number
from state.shadow import ShadowStage
from state.trails import read_trail
from streams.dashboard.trail import TrailSeries, category_lookup, trail_items, trail_series

SCAN_KEYS = 2000
"""User keys a page looks at, at most, for its list of recently active users."""
REGISTRY_VERSIONS = 8


@dataclass(frozen=True, slots=True)
class UserRow:
    user_id: str
    events_applied: int
    updated_at: float | None
    model_version: str


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: str
    published_at: float | None
    figures: dict[str, Any]


@dataclass(slots=True)
class StoreSummary:
    events_total: int = 0
    users_seen: int = 0  # users in the scanned sample
    users_capped: bool = False
    recent: list[UserRow] = field(default_factory=list)
    model_version: str | None = None
    registry: list[VersionRow] = field(default_factory=list)
    trending: list[str] = field(default_factory=list)
    shadow: tuple[str, ShadowTally] | None = None  # a candidate scored beside the current one
    catalogue: int = 0
    unavailable: int = 0


@dataclass(slots=True)
class UserPage:
    state: UserState
    trail: TrailSeries
    points: list[dict[str, Any]]


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw or "")


def _number(raw: object) -> float | None:
    try:
        return float(_text(raw)) if raw else None
    except ValueError:
        return None


def summary(reader: InterestReader, recent: int = 20) -> StoreSummary:
    client, keys = reader.client, reader.keys
    out = StoreSummary()
    out.events_total = int(_number(client.get(keys.events_total())) or 0)
    user_keys: list[bytes] = []
    for key in client.scan_iter(match=keys.user_pattern(), count=500):
        user_keys.append(key)
        if len(user_keys) >= SCAN_KEYS:
            out.users_capped = True
            break
    out.users_seen = len(user_keys)
    pipe = client.pipeline(transaction=False)
    for key in user_keys:
        pipe.hmget(key, "events_applied", "updated_at", "model_version")
    rows = []
    for key, (events, updated, version) in zip(user_keys, pipe.execute(), strict=True):
        user_id = keys.user_id_of(key.decode())
        rows.append(UserRow(user_id, int(_number(events) or 0), _number(updated), _text(version)))
    rows.sort(key=lambda r: r.updated_at or 0.0, reverse=True)
    out.recent = rows[:recent]
    out.model_version = _text(client.get(keys.model_version())) or None
    out.registry = registry(reader, out.model_version)
    stage = ShadowStage(client, keys)
    staged = stage.current()
    if staged is not None:
        out.shadow = (staged, stage.tally(staged))
    out.trending = reader.trending()[:10]
    out.catalogue = int(client.hlen(keys.item_meta()))
    out.unavailable = int(client.scard(keys.unavailable()))
    return out


def registry(reader: InterestReader, current: str | None) -> list[VersionRow]:
    """The current version and the ones published before it that are still recorded."""
    newest = version_number(current) if current else None
    if newest is None:
        return []
    out = []
    for number in range(newest, max(0, newest - REGISTRY_VERSIONS), -1):
        version = version_name(number)
        published, figures = reader.client.hmget(
            reader.keys.model_record(version), "published_at", "figures"
        )
        if published is None and figures is None:
            continue
        try:
            body = orjson.loads(figures) if figures else {}
        except orjson.JSONDecodeError:
            body = {}
        out.append(VersionRow(version, _number(published), body if isinstance(body, dict) else {}))
    return out


def trail_of(
    reader: InterestReader, user_id: str, category_pattern: str | None = None
) -> tuple[list[dict[str, Any]], TrailSeries]:
    """The user's trail points and series, categories from the catalogue (HMGET of
    the trail's items only) or ``category_pattern``."""
    points = read_trail(reader.client, reader.keys, reader.pseudonym(user_id))
    items = sorted(trail_items(points))
    catalogue: dict[str, dict[str, Any]] = {}
    if items:
        raw = reader.client.hmget(reader.keys.item_meta(), items)
        for item_id, entry in zip(items, raw, strict=True):
            try:
                body = orjson.loads(entry) if entry else None
            except orjson.JSONDecodeError:
                body = None
            if isinstance(body, dict):
                catalogue[item_id] = body
    return points, trail_series(points, category_lookup(catalogue, category_pattern))


def user_page(
    reader: InterestReader, user_id: str, category_pattern: str | None = None
) -> UserPage | None:
    state = reader.get_user(user_id)
    if state is None:
        return None
    points, series = trail_of(reader, user_id, category_pattern)
    return UserPage(state, series, points)
