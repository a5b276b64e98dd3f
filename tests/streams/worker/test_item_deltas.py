"""Shared item vectors under many writers: every worker's steps count (real Redis).

Workers send the sum of their committed steps per item; ``add_item_deltas.lua``
adds it to the stored vector in one step, so concurrent steps to one item add
up instead of the last writer's whole vector replacing the others'.
"""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest

from state import SharedWrite, UserStateStore
from state.codec import decode_vector, encode_vector
from state.connection import sync_client
from state.keys import KeyLayout
from state.store import ITEM_CHANGES_KEPT_S
from streams.devtools.embedded import EmbeddedServices
from streams.devtools.embedded_cluster import EmbeddedCluster
from streams.settings import Settings
from streams.worker.interest_updater import Incoming, InterestUpdater
from tests.support.harness import isolated_settings

DIM = 8


def _store(settings: Settings) -> UserStateStore:
    return UserStateStore.from_url(
        settings.redis_url, KeyLayout(settings.redis_prefix), DIM, 60, 10
    )


@pytest.mark.parametrize("where", ["one server", "cluster"])
def test_two_concurrent_writers_steps_to_one_item_both_count(
    services: EmbeddedServices, redis_cluster: EmbeddedCluster, where: str
) -> None:
    url = services.redis_url if where == "one server" else redis_cluster.url
    settings = isolated_settings(services, redis_url=url, vector_size=DIM)
    start = np.arange(DIM, dtype=np.float32)
    rng = np.random.default_rng(7)
    steps = {w: rng.normal(size=(40, 2, DIM)).astype(np.float32) for w in ("a", "b")}

    async def writer(name: str) -> None:
        store = _store(settings)
        try:
            await store.prepare()
            for step in steps[name]:
                deltas = {"i1": step[0], "i2": step[1]}
                whole = {"i1": start + step[0], "i2": start + step[1]}  # only if none stored
                shared = SharedWrite("online", items=whole, item_deltas=deltas)
                assert (await store.write([], shared)).shared_written
                await asyncio.sleep(0)
        finally:
            await store.aclose()

    async def both() -> None:
        await asyncio.gather(writer("a"), writer("b"))

    asyncio.run(both())
    client = sync_client(settings)
    try:
        stored = client.hgetall(KeyLayout(settings.redis_prefix).items("online"))
    finally:
        client.close()
    for column, item in enumerate(("i1", "i2")):
        want = start + steps["a"][:, column].sum(0) + steps["b"][:, column].sum(0)
        np.testing.assert_allclose(decode_vector(stored[item.encode()]), want, atol=1e-4)


def _event(user: str, item: str, partition: int, offset: int) -> Incoming:
    body = {"user_id": user, "item_id": item, "type": "click", "ts": 1000.0 + offset}
    body["event_id"] = f"{user}-{offset}"
    return Incoming("interactions", partition, offset, orjson.dumps(body), user.encode())


def test_two_workers_batches_on_the_same_items_add_up(services: EmbeddedServices) -> None:
    """Two updaters (as two worker processes would) fold their own users' events on
    the same items at the same time; Redis ends with both workers' steps."""
    settings = isolated_settings(services, vector_size=DIM, item_refresh_s=3600.0)
    items = [f"i{n}" for n in range(6)]
    rng = np.random.default_rng(1)

    def batches(partition: int) -> list[list[Incoming]]:
        out, offset = [], 0
        for _ in range(8):
            batch = []
            for _ in range(12):
                user = f"p{partition}-u{rng.integers(5)}"
                batch.append(_event(user, items[rng.integers(len(items))], partition, offset))
                offset += 1
            out.append(batch)
        return out

    plans = {0: batches(0), 1: batches(1)}
    updaters = {p: InterestUpdater(settings, _store(settings)) for p in plans}

    async def worker(partition: int) -> None:
        updater = updaters[partition]
        await updater.start()
        for batch in plans[partition]:
            assert (await updater.apply(batch)).applied == len(batch)
            await asyncio.sleep(0)

    async def both() -> None:
        try:
            await asyncio.gather(worker(0), worker(1))
        finally:
            for updater in updaters.values():
                await updater.store.aclose()  # type: ignore[attr-defined]

    asyncio.run(both())
    client = sync_client(settings)
    try:
        raw = client.hgetall(KeyLayout(settings.redis_prefix).items("online"))
    finally:
        client.close()
    stored = {k.decode(): decode_vector(v) for k, v in raw.items()}
    fresh = InterestUpdater(settings, _store(settings)).items  # initial vectors, same seed
    for item in items:
        initial = fresh.vector(item).copy()
        sent = []
        for updater in updaters.values():
            local = updater.items.vector(item)
            unsent = updater._pending.item_deltas.get(item, np.zeros(DIM, np.float32))
            sent.append(local - initial - unsent)
        assert all(np.abs(s).max() > 1e-6 for s in sent), "a worker never stepped the item"
        np.testing.assert_allclose(stored[item], initial + sent[0] + sent[1], atol=1e-4)
    assert encode_vector(stored[items[0]]) != encode_vector(updaters[0].items.vector(items[0]))


@pytest.mark.parametrize("where", ["one server", "cluster"])
def test_a_reload_reads_the_logged_changes_not_every_item(
    services: EmbeddedServices, redis_cluster: EmbeddedCluster, where: str
) -> None:
    """A worker's reload reads the items other workers wrote since its last one, as the
    change log names them: a vector written outside the log (as the trainer writes a
    version before publishing it) waits for the next full read, which comes when the
    last reload is older than the log keeps entries."""
    url = services.redis_url if where == "one server" else redis_cluster.url
    settings = isolated_settings(services, redis_url=url, vector_size=DIM, item_refresh_s=0.0)
    keys = KeyLayout(settings.redis_prefix)
    step = np.full(DIM, 0.25, np.float32)
    client = sync_client(settings)

    async def run() -> None:
        other, reader = _store(settings), _store(settings)
        updater = InterestUpdater(settings, reader)
        try:
            await other.prepare()
            await updater.start()  # no version published: the online items, read whole
            before = updater.items.vector("i1").copy()
            shared = SharedWrite("online", items={"i1": before + step}, item_deltas={"i1": step})
            assert (await other.write([], shared)).shared_written
            await other.add_new_items("online", {"cold": np.ones(DIM, np.float32)})
            client.hset(keys.items("online"), "unlogged", encode_vector(np.ones(DIM)))
            await updater.refresh_items()
            np.testing.assert_allclose(updater.items.vector("i1"), before + step, atol=1e-6)
            assert "cold" in updater.items and "unlogged" not in updater.items
            await updater.refresh_items()  # nothing new: the cursor moved past both
            assert "unlogged" not in updater.items
            updater._items_loaded_at -= ITEM_CHANGES_KEPT_S  # a reload long ago: read all
            await updater.refresh_items()
            assert "unlogged" in updater.items
        finally:
            await other.aclose()
            await reader.aclose()

    try:
        asyncio.run(run())
        entries = client.xrange(keys.item_changes("online"))
        named = [orjson.loads(fields[b"ids"]) for _, fields in entries]
        assert named == [["i1"], ["cold"]]
    finally:
        client.close()
