"""``interests demo``: the whole pipeline on this machine, then a summary.

Starts a Tansu broker and a redis-server on free ports, a worker process and
the synthetic producer (with ~1% malformed events), shows how the watched
users' recommendations follow their drifting interest, and stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from streams.devtools.embedded import (
    EmbeddedServices,
    ManagedProcess,
    embedded_services,
    start_worker,
)
from streams.devtools.event_producer import EventProducer
from streams.devtools.latency import LatencyTracker
from streams.devtools.synthetic import DriftConfig, DriftingUsers, category_of
from streams.devtools.topic_reader import count_messages, recommendations_reader
from streams.read_side import open_reader
from streams.settings import Settings
from streams.topics import ensure_topics

MALFORMED_EVERY = 97
SHOWN_ITEMS = 5


def demo_settings(base: Settings, services: EmbeddedServices) -> Settings:
    """Point at the embedded services; fast group joins and visible drift."""
    return base.replace(
        kafka_bootstrap=services.kafka_bootstrap,
        redis_url=services.redis_url,
        broker_rebalance_timeout_s=3.0,
        broker_session_timeout_s=6.0,
        topic_partitions=4,
        short_term_half_life_s=min(base.short_term_half_life_s, 5.0),
    )


class DemoStream:
    """Synthetic events stamped with wall time, plus a malformed one now and then."""

    def __init__(
        self, users: int, seed: int, latency: LatencyTracker, malformed_every: int = MALFORMED_EVERY
    ) -> None:
        self.malformed_every = malformed_every
        self.source = DriftingUsers(DriftConfig(users=users, seed=seed, switch_every=60))
        self.latency = latency
        self.sent = 0
        self.malformed = 0

    def messages(self, until: float) -> Iterator[tuple[bytes, bytes]]:
        while time.monotonic() < until:
            self.sent += 1
            if self.malformed_every and self.sent % self.malformed_every == 0:
                self.malformed += 1
                yield b"u0", b'{"user_id": "u0", "type": "teleport"}'
                continue
            event = dataclasses.replace(self.source.next().event, ts=round(time.time(), 3))
            self.latency.sent(event.event_id or "", event.user_id)
            yield event.user_id.encode(), event.to_json()

    def interest(self, user_id: str) -> int:
        return self.source.interest[int(user_id[1:])]


async def watch(
    settings: Settings,
    stream: DemoStream,
    watched: set[str],
    latency: LatencyTracker,
    stop: asyncio.Event,
) -> None:
    """Print watched users' recommendations as they change; time every one."""
    consumer = recommendations_reader(settings)
    await consumer.start()
    shown: dict[str, list[str]] = {}
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if record.value is None:
                        continue
                    rec = orjson.loads(record.value)
                    latency.received(str(rec.get("event_id")))
                    if rec["user_id"] in watched:
                        _show(rec, stream, shown)
    finally:
        await consumer.stop()


def _show(rec: dict[str, object], stream: DemoStream, shown: dict[str, list[str]]) -> None:
    user = str(rec["user_id"])
    items = [str(i["item_id"]) for i in rec["items"]][:SHOWN_ITEMS]  # type: ignore[attr-defined]
    if shown.get(user) == items:
        return
    shown[user] = items
    wanted = stream.interest(user)
    on_topic = sum(category_of(i) == wanted for i in items)
    print(
        f"  {user:>5} likes c{wanted}: {' '.join(f'{i:<8}' for i in items)} "
        f"({on_topic}/{len(items)} on topic)",
        flush=True,
    )


async def run_stream(
    settings: Settings, seconds: float, rate: float, users: int, watch_n: int
) -> tuple[DemoStream, LatencyTracker, float]:
    latency = LatencyTracker()
    stream = DemoStream(users, settings.seed, latency)
    stop = asyncio.Event()
    watcher = asyncio.create_task(
        watch(settings, stream, {f"u{i}" for i in range(watch_n)}, latency, stop)
    )
    started = time.monotonic()
    async with EventProducer(settings) as producer:
        await producer.send_all(stream.messages(started + seconds), rate)
    produced_for = time.monotonic() - started
    deadline = time.monotonic() + 30
    while latency.pending and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stop.set()
    await watcher
    return stream, latency, produced_for


async def wait_for_worker(settings: Settings, worker: ManagedProcess, timeout: float) -> None:
    """Send one probe event and wait for its recommendation: the group is up."""
    latency = LatencyTracker()
    probe = DemoStream(1, settings.seed + 1, latency)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(settings, probe, set(), latency, stop))
    async with EventProducer(settings) as producer:
        await producer.send_all(itertools.islice(probe.messages(time.monotonic() + 60), 1))
    deadline = time.monotonic() + timeout
    while latency.pending and time.monotonic() < deadline:
        if worker.process.poll() is not None:
            stop.set()
            raise RuntimeError("the worker exited while starting; see its log")
        await asyncio.sleep(0.2)
    stop.set()
    await watcher
    if latency.pending:
        raise RuntimeError(f"the worker did not answer within {timeout:.0f}s")


def events_applied(settings: Settings) -> int:
    reader = open_reader(settings)
    try:
        keys = list(reader.client.scan_iter(match=reader.keys.user_pattern(), count=1000))
        return sum(int(reader.client.hget(k, "events_applied") or 0) for k in keys)  # type: ignore[arg-type,unused-ignore]
    finally:
        reader.close()


def run_demo(
    base: Settings,
    seconds: float,
    rate: float,
    users: int,
    watch_n: int,
    workdir: Path | None = None,
) -> int:
    with embedded_services(workdir) as services:
        settings = demo_settings(base, services)
        print(
            f"broker {settings.kafka_bootstrap}, redis {settings.redis_url}, "
            f"logs in {services.workdir}",
            flush=True,
        )
        asyncio.run(ensure_topics(settings))
        worker = start_worker(settings, services.workdir / "worker.log")
        try:
            print("waiting for the worker to join its group...", flush=True)
            asyncio.run(wait_for_worker(settings, worker, timeout=60))
            print(
                f"streaming {rate:g} events/s for {seconds:g}s "
                f"({users} users whose interests drift):",
                flush=True,
            )
            stream, latency, produced_for = asyncio.run(
                run_stream(settings, seconds, rate, users, watch_n)
            )
            applied = events_applied(settings) - 1  # less the probe
            dead = asyncio.run(count_messages(settings, settings.topic_dlq))
        finally:
            with contextlib.suppress(Exception):
                worker.stop()
    _summary(stream, latency, produced_for, applied, dead)
    return 0


def _summary(
    stream: DemoStream, latency: LatencyTracker, produced_for: float, applied: int, dead: int
) -> None:
    p50, p99 = latency.percentiles()
    print("\nsummary")
    print(f"  events sent        {stream.sent}")
    print(f"  events applied     {applied}")
    print(f"  dead-lettered      {dead} (of {stream.malformed} malformed on purpose)")
    print(f"  events/s           {applied / produced_for:.0f}")
    print(
        f"  event->rec latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"({latency.count} recommendations timed)"
    )
