"""Helpers of the integration tests: isolated settings, workers, topic reads."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.devtools.event_producer import EventProducer
from streams.devtools.isolation import own_names
from streams.read_side import open_reader
from streams.security import kafka_client_options
from streams.settings import Settings
from streams.topics import ensure_topics


def isolated_settings(services: EmbeddedServices, **overrides: object) -> Settings:
    """Own topics, group and key prefix per test, so tests never see each other."""
    tag = uuid.uuid4().hex[:8]
    base: dict[str, object] = dict(
        kafka_bootstrap=services.kafka_bootstrap,
        redis_url=services.redis_url,
        **own_names(f"t{tag}"),
        topic_partitions=4,
        broker_rebalance_timeout_s=3.0,
        broker_session_timeout_s=6.0,
        item_refresh_s=1.0,
    )
    base.update(overrides)
    settings = Settings.from_env({}, **base)
    asyncio.run(ensure_topics(settings))
    return settings


def produce(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    async def run() -> None:
        async with EventProducer(settings) as producer:
            await producer.send_all(messages)

    asyncio.run(run())


def read_topic(
    settings: Settings, topic: str, expect: int, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every message of ``topic`` from the start, waiting until ``expect`` arrived."""

    async def run() -> list[tuple[bytes | None, bytes | None]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **kafka_client_options(settings),
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            out: list[tuple[bytes | None, bytes | None]] = []
            deadline = time.monotonic() + timeout
            while len(out) < expect and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    out.extend((r.key, r.value) for r in records)
            # Then read to the end offsets as they are now, so a caller looking for
            # one message among many sees every partition's tail, not one fetch.
            ends = await consumer.end_offsets(partitions)

            async def behind() -> bool:
                return any([await consumer.position(tp) < end for tp, end in ends.items()])

            while time.monotonic() < deadline and await behind():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    out.extend((r.key, r.value) for r in records)
            # Drain a little longer so duplicates past ``expect`` are seen too.
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend((r.key, r.value) for r in records)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(run())


def events_applied(settings: Settings, user_ids: list[str]) -> dict[str, int]:
    reader = open_reader(settings)
    try:
        counts = {}
        for user_id in user_ids:
            state = reader.get_user(user_id)
            counts[user_id] = state.events_applied if state else 0
        return counts
    finally:
        reader.close()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def decode_json(raw: bytes | None) -> dict[str, object]:
    assert raw is not None
    value = orjson.loads(raw)
    assert isinstance(value, dict)
    return value


def kill_once_applying(settings: Settings, users: list[str], log: Path) -> None:
    """Start a worker and kill -9 it as soon as it has applied anything: mid-stream."""
    worker = start_worker(settings, log)
    try:
        wait_until(
            lambda: sum(events_applied(settings, users).values()) > 0,
            timeout=120,
            what="the worker to start applying",
            interval=0.05,
        )
    finally:
        worker.kill()
