"""Offsets that outlive their topic (issue 10 item 6): a recreated ``interactions``
topic restarts at offset 0, and its events are applied, not skipped as replays."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient

from state.epoch import TopicEpochs, current_stamp, epoch_key
from state.keys import KeyLayout
from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.read_side import open_reader
from streams.settings import Settings
from streams.topic_ids import topic_ids
from streams.topics import ensure_topics
from tests.support.harness import events_applied, isolated_settings, produce, wait_until

USERS = [f"u{i}" for i in range(8)]


def _recreate(settings: Settings) -> None:
    """Delete the interactions topic and create it again, empty, offsets from 0."""

    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([settings.topic_interactions])
        finally:
            await admin.close()
        await ensure_topics(settings, [settings.topic_interactions])

    asyncio.run(run())


def _ids(settings: Settings) -> dict[str, str]:
    async def run() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            return await topic_ids(admin, [settings.topic_interactions, "no-such-topic"])
        finally:
            await admin.close()

    return asyncio.run(run())


def test_the_embedded_broker_gives_a_recreated_topic_a_new_id(
    services: EmbeddedServices,
) -> None:
    settings = isolated_settings(services)
    first = _ids(settings)
    assert list(first) == [settings.topic_interactions]  # a missing topic has no id
    assert _ids(settings) == first
    _recreate(settings)
    assert _ids(settings)[settings.topic_interactions] != first[settings.topic_interactions]


def test_epochs_count_topic_ids_in_redis(services: EmbeddedServices) -> None:
    keys = KeyLayout(isolated_settings(services).redis_prefix)

    async def run() -> list[object]:
        client = aioredis.Redis.from_url(services.redis_url)
        try:
            epochs = TopicEpochs(client, keys)
            seen: list[object] = [epochs.stamp("t")]
            seen.append(await epochs.observe({"t": "a"}))  # first id: epoch 0, no change
            seen.append(await epochs.observe({"t": "a"}))
            seen.append(await epochs.observe({"t": "b"}))  # recreated
            seen.append(epochs.stamp("t"))
            other = TopicEpochs(client, keys)  # a worker starting now agrees, without a bump
            seen.append(await other.observe({"t": "b"}))
            seen.append(other.stamp("t"))
            return seen
        finally:
            await client.aclose()

    assert asyncio.run(run()) == ["t", False, False, True, "t@1", False, "t@1"]
    sync = redis.Redis.from_url(services.redis_url)
    try:
        assert current_stamp(sync, keys, "t") == "t@1"
        assert current_stamp(sync, keys, "never-seen") == "never-seen"
    finally:
        sync.close()


def _events(rounds: range, tag: str) -> list[tuple[bytes, bytes]]:
    now = time.time() - 3600
    return [
        (
            u.encode(),
            orjson.dumps({"user_id": u, "item_id": f"{tag}-{r}", "type": "view", "ts": now + r}),
        )
        for r in rounds
        for u in USERS
    ]


def _caught_up(settings: Settings, count: int, last_item: str) -> None:
    def done() -> bool:
        reader = open_reader(settings)
        try:
            users = [reader.get_user(u) for u in USERS]
        finally:
            reader.close()
        return all(
            u is not None and u.events_applied == count and u.recent_items[:1] == [last_item]
            for u in users
        )

    wait_until(done, timeout=90, what=f"{count} events per user, the last {last_item}")
    time.sleep(1.0)  # anything still in flight would land now
    assert set(events_applied(settings, USERS).values()) == {count}


@pytest.mark.slow
def test_a_recreated_topic_s_events_are_applied_exactly_once(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(services)
    produce(settings, _events(range(5), "old"))
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        _caught_up(settings, 5, "old-4")
        # Under a running worker: offsets restart at 0, below every user's stamp.
        _recreate(settings)
        produce(settings, _events(range(3), "new"))
        _caught_up(settings, 8, "new-2")
    finally:
        worker.stop()
    # Recreated while no worker runs (a broker without a volume, Redis kept).
    _recreate(settings)
    produce(settings, _events(range(2), "again"))
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        _caught_up(settings, 10, "again-1")
    finally:
        worker.stop()
    # A restart replays nothing twice: the stamps now carry the epoch.
    worker = start_worker(settings, tmp_path / "worker-3.log")
    try:
        time.sleep(8.0)
        assert set(events_applied(settings, USERS).values()) == {10}
    finally:
        worker.stop()
    client = redis.Redis.from_url(settings.redis_url)
    try:
        key = epoch_key(KeyLayout(settings.redis_prefix), settings.topic_interactions)
        assert client.hget(key, "epoch") == b"2"
    finally:
        client.close()
    reader = open_reader(settings)
    try:
        user = reader.get_user(USERS[0])
        assert user is not None
        assert user.last_topic == f"{settings.topic_interactions}@2"
    finally:
        reader.close()
