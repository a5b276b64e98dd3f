"""The store, the registry and the read client on a real 3-primary Redis Cluster."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from state import SharedWrite, StoredUser, UserStateStore, UserWrite
from state.client import InterestReader
from state.cluster import SlotGroups, slot_of
from state.connection import RedisEndpoint, async_client, cluster_enabled, sync_client
from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from streams.devtools.embedded import EmbeddedServices
from streams.devtools.embedded_cluster import EmbeddedCluster

USERS = [f"u{i}" for i in range(60)]


def _prefix() -> str:
    return f"c{uuid.uuid4().hex[:8]}:"


def _write(before: StoredUser, offset: int) -> UserWrite:
    return UserWrite(
        before=before,
        short_term=np.full(4, offset, np.float32),
        last_event_ts=1.0,
        events_applied=before.events_applied + 1,
        recent_items=["a"],
        topic="interactions",
        partition=0,
        offset=offset,
        model_version="online",
        recommendations=b"{}",
        new_items=[f"i{offset}"],
    )


def test_cluster_mode_is_detected_from_the_server(
    redis_cluster: EmbeddedCluster, services: EmbeddedServices
) -> None:
    on_cluster, on_one = RedisEndpoint(redis_cluster.url), RedisEndpoint(services.redis_url)
    assert cluster_enabled(on_cluster) and not cluster_enabled(on_one)
    assert not cluster_enabled(RedisEndpoint("redis://127.0.0.1:1/0"))  # unreachable: one server
    client, plain = sync_client(on_cluster), sync_client(on_one)
    assert isinstance(client, RedisCluster) and isinstance(plain, redis.Redis)
    client.close()
    plain.close()

    async def both() -> None:
        aclient, aplain = async_client(on_cluster), async_client(on_one)
        assert isinstance(aclient, AsyncRedisCluster) and not isinstance(aplain, AsyncRedisCluster)
        await aclient.aclose()
        await aplain.aclose()

    asyncio.run(both())


def test_users_are_grouped_by_slot_and_results_come_back_in_order() -> None:
    keys = [k for u in ("a", "b", "a2", "c") for k in (f"ie:user:{{{u}}}", f"x{{{u}}}")]
    groups = SlotGroups.of(keys, 2)
    assert sorted(i for g in groups.groups for i in g) == [0, 1, 2, 3]
    for group in groups.groups:
        assert len({slot_of(keys[2 * u]) for u in group}) == 1
    replies = [[f"r{u}" for u in g] for g in groups.groups]
    assert groups.spread(replies) == ["r0", "r1", "r2", "r3"]
    failed = ValueError("down")
    spread = groups.spread([failed, *replies[1:]])
    assert all(spread[u] is failed for u in groups.groups[0])


def test_batch_reads_and_writes_span_every_node(redis_cluster: EmbeddedCluster) -> None:
    keys = KeyLayout(_prefix())
    store = UserStateStore.from_url(redis_cluster.url, keys, 4, 60, 10)
    admin = sync_client(RedisEndpoint(redis_cluster.url))
    assert isinstance(admin, RedisCluster)
    nodes = {admin.get_node_from_key(keys.user(u)).name for u in USERS}
    assert len(nodes) == 3, "the users do not span the three primaries; the test proves less"

    async def scenario() -> None:
        try:
            await store.prepare()
            fresh = await store.load_users(USERS)
            assert [u.user_id for u in fresh.values()] == USERS
            assert all(u.events_applied == 0 for u in fresh.values())
            writes = [_write(fresh[u], 5) for u in USERS]
            outcome = await store.write(writes, SharedWrite("online", events=len(USERS)))
            assert outcome.committed == [True] * len(USERS) and outcome.shared_written
            # Stale writes (read before that write) lose the compare-and-set, user by user.
            stored = await store.load_users(USERS)
            mixed = [_write(fresh[u] if i % 2 else stored[u], 6) for i, u in enumerate(USERS)]
            outcome = await store.write(mixed, SharedWrite("online"))
            assert outcome.committed == [i % 2 == 0 for i in range(len(USERS))]
            # A node that forgot the script: only its users are written again, once.
            node = admin.get_node_from_key(keys.user(USERS[0]))
            one = redis_cluster.node_client(int(node.port))
            one.script_flush()
            one.close()
            stored = await store.load_users(USERS)
            outcome = await store.write(
                [_write(stored[u], 7) for u in USERS], SharedWrite("online")
            )
            assert outcome.committed == [True] * len(USERS)
            final = await store.load_users(USERS)
            assert {u: s.last_offset for u, s in final.items()} == dict.fromkeys(USERS, "7")
            assert {u: s.events_applied for u, s in final.items()} == {
                u: 3 if i % 2 == 0 else 2 for i, u in enumerate(USERS)
            }
            recs = await store.load_recommendations(USERS)
            assert set(recs.values()) == {b"{}"}
        finally:
            await store.aclose()

    try:
        asyncio.run(scenario())
        assert int(admin.get(keys.events_total()) or 0) == len(USERS)
        assert admin.lrange(keys.history(USERS[0]), 0, -1) == [b"i5", b"i6", b"i7"]
    finally:
        admin.close()


def test_publish_forget_and_collection_on_a_cluster(redis_cluster: EmbeddedCluster) -> None:
    prefix = _prefix()
    keys = KeyLayout(prefix)
    client = sync_client(RedisEndpoint(redis_cluster.url))
    registry = ModelRegistry(client, keys, user_ttl_s=60)
    reader = InterestReader(client, keys)
    try:
        for user in USERS:
            client.rpush(keys.history(user), "a", "b")
            client.hset(keys.user(user), mapping={"events_applied": 2})
        assert set(registry.histories()) == set(USERS)
        assert reader.forget(USERS[0], 60)  # fenced: the publish must skip them
        vectors = {u: np.ones(4, np.float32) for u in USERS}
        for number in (1, 2, 3):
            record = ModelRecord(f"gru-{number}", "0" * 64, f"gru-{number}.pt", ["a", "b"], {})
            written = registry.publish(
                record, {"a": np.ones(4, np.float32)}, vectors, gru_step=b"npz"
            )
            assert written == len(USERS) - 1
        assert registry.current_version() == "gru-3"
        assert reader.get_user(USERS[0]) is None
        user = reader.get_user(USERS[1])
        assert user is not None and user.long_term_version == "gru-3" and user.events_applied == 2
        client.script_flush()  # every node forgot it: loaded again, nobody counted twice
        record = ModelRecord("gru-4", "0" * 64, "gru-4.pt", ["a", "b"], {})
        assert registry.publish(record, {}, vectors) == len(USERS) - 1
        collected = registry.collect_old_versions(keep_previous=1)
        assert collected.versions == ["gru-1", "gru-2"]
        assert not client.exists(keys.items("gru-1")) and client.exists(keys.items("gru-3"))
    finally:
        client.close()


@pytest.mark.parametrize("users", [1, 500])
def test_a_read_of_many_users_is_one_call_per_slot(
    redis_cluster: EmbeddedCluster, users: int
) -> None:
    keys = KeyLayout(_prefix())
    store = UserStateStore.from_url(redis_cluster.url, keys, 4, 60, 10)
    ids = [f"x{i}" for i in range(users)]

    async def scenario() -> int:
        try:
            return len(await store.load_users(ids))
        finally:
            await store.aclose()

    assert asyncio.run(scenario()) == users
