"""Item state ages out of Redis (issue 10 item 3), on a real redis-server."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import redis
import redis.asyncio as aioredis

from state.item_ageing import ItemAgeing, gone_at_key, seen_key
from state.keys import KeyLayout
from state.store import UserStateStore
from state.user_store import SharedWrite, StoredUser, UserWrite
from streams.devtools.embedded import EmbeddedServices
from streams.worker.ageing import AgeingTracker


def _keys() -> KeyLayout:
    return KeyLayout(f"t{uuid.uuid4().hex[:8]}:")


def test_items_no_event_named_for_the_ttl_leave_the_online_table(
    services: EmbeddedServices,
) -> None:
    keys = _keys()
    sync = redis.Redis.from_url(services.redis_url)
    sync.hset(keys.items("online"), mapping={i: b"v" for i in ("a", "b", "c", "undated")})

    async def run() -> tuple[int, int]:
        client = aioredis.Redis.from_url(services.redis_url)
        try:
            ageing = ItemAgeing(client, keys, ttl_s=50)
            await ageing.mark(["a", "b", "c"], now=0.0)
            await ageing.mark(["c"], now=100.0)  # named again later
            return await ageing.sweep(now=120.0)
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (2, 0)
    assert sorted(sync.hkeys(keys.items("online"))) == [b"c", b"undated"]
    assert sync.zrange(seen_key(keys), 0, -1) == [b"c"]
    sync.close()


def test_catalogue_entries_of_items_unavailable_for_the_ttl_age_out(
    services: EmbeddedServices,
) -> None:
    keys = _keys()
    sync = redis.Redis.from_url(services.redis_url)
    sync.hset(keys.item_meta(), mapping={i: b"{}" for i in ("x", "y", "z", "ok")})
    sync.hset(keys.items("online"), mapping={"x": b"v", "z": b"v"})
    sync.sadd(keys.unavailable(), "x", "z")

    async def run() -> tuple[int, int]:
        client = aioredis.Redis.from_url(services.redis_url)
        try:
            ageing = ItemAgeing(client, keys, ttl_s=50)
            await ageing.mark(gone=["x", "y"], now=0.0)
            await ageing.mark(back=["y"], now=10.0)  # available again: never ages out
            await ageing.mark(gone=["z"], now=100.0)
            await ageing.mark(gone=["z", "x"], now=110.0)  # a repeated mark keeps the first date
            return await ageing.sweep(now=120.0)
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (0, 1)
    assert sorted(sync.hkeys(keys.item_meta())) == [b"ok", b"y", b"z"]
    assert sync.smembers(keys.unavailable()) == {b"z"}
    assert sync.hkeys(keys.items("online")) == [b"z"]
    assert sync.zrange(gone_at_key(keys), 0, -1) == [b"z"]
    sync.close()


def test_a_sweep_runs_a_large_backlog_to_the_end(services: EmbeddedServices) -> None:
    keys = _keys()
    ids = [f"i{n}" for n in range(2500)]

    async def run() -> tuple[int, int]:
        client = aioredis.Redis.from_url(services.redis_url)
        try:
            await client.hset(keys.items("online"), mapping=dict.fromkeys(ids, b"v"))
            tracker = AgeingTracker(ItemAgeing(client, keys, ttl_s=1))
            tracker.saw(ids)
            await tracker.flush()  # dated now: nothing ages yet
            return await tracker.ageing.sweep(now=1e12)
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (2500, 0)
    sync = redis.Redis.from_url(services.redis_url)
    assert sync.exists(keys.items("online"), seen_key(keys)) == 0
    sync.close()


def test_a_user_s_history_expires_with_its_hash(services: EmbeddedServices) -> None:
    keys = _keys()

    async def run() -> None:
        store = UserStateStore.from_url(services.redis_url, keys, 4, ttl_s=500, history_length=10)
        try:
            await store.prepare()
            write = UserWrite(
                before=StoredUser("u"),
                short_term=np.ones(4, np.float32),
                last_event_ts=1.0,
                events_applied=1,
                recent_items=["a"],
                topic="interactions",
                partition=0,
                offset=0,
                model_version="online",
                recommendations=b"{}",
                new_items=["a"],
            )
            assert (await store.write([write], SharedWrite("online"))).committed == [True]
        finally:
            await store.aclose()

    asyncio.run(run())
    sync = redis.Redis.from_url(services.redis_url)
    hash_ttl, history_ttl = sync.ttl(keys.user("u")), sync.ttl(keys.history("u"))
    assert 0 < history_ttl <= hash_ttl <= 500  # the history never outlives the hash
    sync.close()
