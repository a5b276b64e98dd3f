"""A mixed stream of valid and malformed events with known per-user counts."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import orjson

from streams.devtools.synthetic import DriftConfig, DriftingUsers

MALFORMED: list[tuple[bytes | None, str]] = [
    (b"this is not json", "not JSON"),
    (b"", "empty message"),
    (b"[1, 2, 3]", "not an object"),
    (b'{"item_id": "i1", "type": "view", "ts": 1700000000}', "missing user_id"),
    (b'{"user_id": "", "item_id": "i1", "type": "view", "ts": 1700000000}', "empty user_id"),
    (
        b'{"user_id": "u1", "item_id": "i1", "type": "teleport", "ts": 1700000000}',
        "unknown event type",
    ),
    (b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": 99999999999}', "in the future"),
    (b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": "yesterday"}', "ISO-8601"),
    (b'{"user_id": "u1", "item_id": "i1", "type": "view", "ts": true}', "boolean"),
    (b'{"user_id": "u1", "item_id": "i1", "type": "view"}', "missing ts"),
    (b'{"user_id": {"a": 1}, "item_id": "i1", "type": "view", "ts": 1}', "user_id must be"),
    (None, "empty message"),
]


@dataclass
class MixedStream:
    messages: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    valid_per_user: Counter[str] = field(default_factory=Counter)
    malformed: list[tuple[bytes | None, str]] = field(default_factory=list)
    valid_event_ids: set[str | None] = field(default_factory=set)


def mixed_stream(
    valid: int, users: int, malformed_every: int, seed: int, oversize: int = 0
) -> MixedStream:
    rng = random.Random(seed)
    stream = MixedStream()
    source = DriftingUsers(DriftConfig(users=users, seed=seed))
    for synthetic in source.take(valid):
        event = synthetic.event
        stream.messages.append((event.user_id.encode(), event.to_json()))
        stream.valid_per_user[event.user_id] += 1
        stream.valid_event_ids.add(event.event_id)
        if len(stream.messages) % malformed_every == 0:
            raw, reason = MALFORMED[rng.randrange(len(MALFORMED))]
            stream.messages.append((f"u{rng.randrange(users)}".encode(), raw))
            stream.malformed.append((raw, reason))
    for _ in range(oversize):
        raw = orjson.dumps(
            {
                "user_id": "u0",
                "item_id": "x" * 100,
                "type": "view",
                "ts": 1,
                "context": {"pad": "y" * 5000},
            }
        )
        stream.messages.append((b"u0", raw))
        stream.malformed.append((raw, "byte limit"))
    return stream


def category_histories() -> dict[str, list[str]]:
    """Trainer input: 40 users who each keep to one of four categories of ten items."""
    return {
        f"u{user}": [f"c{user % 4}-{(user + step) % 10}" for step in range(12)]
        for user in range(40)
    }
