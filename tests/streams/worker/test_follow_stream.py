"""Follow events end to end: a real broker, redis-server and worker process, a kill -9."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from state.keys import KeyLayout
from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.devtools.synthetic import item_id
from streams.read_side import open_reader
from tests.streams.worker.test_follow_events import (
    DIM,
    SOCIAL_CATEGORY,
    category_of,
    plant,
)
from tests.support.harness import (
    decode_json,
    events_applied,
    isolated_settings,
    kill_once_applying,
    produce,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.slow
FANS = ("f1", "f2", "f3")


def stream() -> tuple[list[tuple[bytes, bytes]], dict[str, int], dict[str, set[str]]]:
    """30 users: views, and follows and unfollows of the fans and of each other; the
    event counts and followee sets they must end with."""
    messages: list[tuple[bytes, bytes]] = []
    counts: dict[str, int] = {}
    follows: dict[str, set[str]] = {}
    for n in range(600):
        user = f"u{n % 30}"
        body: dict[str, object] = {"user_id": user, "ts": 1_700_000_000 + n, "event_id": f"e{n}"}
        step = n // 30
        if step % 3 == 0:
            target = FANS[n % 3] if step < 9 else f"u{(n + 1) % 30}"
            body |= {"type": "follow", "target_user_id": target}
            follows.setdefault(user, set()).add(target)
        elif step % 6 == 1:
            target = f"u{(n + 1) % 30}"
            body |= {"type": "unfollow", "target_user_id": target}
            follows.setdefault(user, set()).discard(target)
        else:
            body |= {"type": "view", "item_id": item_id(0, n % 40)}
        messages.append((user.encode(), orjson.dumps(body)))
        counts[user] = counts.get(user, 0) + 1
    return messages, counts, follows


def test_follows_apply_exactly_once_across_a_kill(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(services, vector_size=DIM, batch_size=20)
    plant(settings, {fan: SOCIAL_CATEGORY for fan in FANS})
    messages, expected, follows = stream()
    cold = [(b"newbie", orjson.dumps({"user_id": "newbie", "type": "follow",
                                      "target_user_id": fan, "ts": 1_700_000_000 + i}))
            for i, fan in enumerate(FANS)]  # fmt: skip
    bad = [
        (b"u0", b'{"user_id": "u0", "type": "follow", "ts": 1700000000}'),
        (b"u1", orjson.dumps({"user_id": "u1", "type": "follow", "target_user_id": "u1", "ts": 1})),
    ]
    produce(settings, messages[:300] + bad)
    users = sorted(expected)
    kill_once_applying(settings, users, tmp_path / "worker-1.log")
    produce(settings, messages[300:] + cold)
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        wait_until(
            lambda: events_applied(settings, [*users, "newbie"]) == expected | {"newbie": 3},
            timeout=180,
            what="exact counts after the restart",
        )
        dead = read_topic(settings, settings.topic_dlq, expect=2)
    finally:
        worker.stop()
    reasons = {str(decode_json(v)["reason"]) for _, v in dead}
    assert reasons == {
        "follow event without a target_user_id",
        "follow of oneself (target_user_id is the user_id)",
    }
    keys = KeyLayout(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        for user in users:
            held = {m.decode() for m in client.zrange(keys.followees(user), 0, -1)}
            assert held == follows.get(user, set()), user
    finally:
        client.close()
    reader = open_reader(settings)
    try:
        newbie = reader.get_user("newbie")
    finally:
        reader.close()
    assert newbie is not None and newbie.recent_items == []
    assert {category_of(str(r["item_id"])) for r in newbie.recommendations} == {SOCIAL_CATEGORY}
