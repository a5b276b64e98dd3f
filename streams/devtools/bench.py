"""``interests bench``: worker throughput and latency, against a bare faust agent.

All in one run on the embedded broker and Redis, so the ratio is fair:

1. throughput: N synthetic events are preloaded into a topic; a worker
   process applies them; events/s from its first to its last recommendation
   (a recommendation says how many events it covers: one per user per batch);
2. the same N events through a bare faust agent that consumes them the same
   way (batches of ``INTERESTS_BATCH_SIZE``) and only counts them;
3. latency: with the worker warm, events paced at a fixed rate, timed from
   send to the arrival of the recommendation they caused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from streams.devtools.demo import (
    DemoStream,
    DemoWatch,
    demo_settings,
    wait_for_worker,
    watch,
)
from streams.devtools.embedded import ManagedProcess, embedded_services, start_worker
from streams.devtools.event_producer import EventProducer
from streams.devtools.latency import LatencyTracker
from streams.devtools.synthetic import DriftConfig, DriftingUsers
from streams.devtools.topic_reader import recommendations_reader
from streams.settings import Settings
from streams.topics import ensure_topics

LATENCY_SECONDS = 15.0


def synthetic_messages(n: int, users: int, seed: int) -> list[tuple[bytes, bytes]]:
    now = time.time()
    source = DriftingUsers(DriftConfig(users=users, seed=seed))
    return [
        (e.event.user_id.encode(), dataclasses.replace(e.event, ts=now).to_json())
        for e in source.take(n)
    ]


async def preload(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    await ensure_topics(settings, [settings.topic_interactions])
    async with EventProducer(settings) as producer:
        await producer.send_all(messages)


async def recommendation_span(settings: Settings, expect: int, timeout: float) -> tuple[int, float]:
    """Count the events recommendations cover and the emitted_ts span from first to last."""
    consumer = recommendations_reader(settings)
    await consumer.start()
    first = last = 0.0
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < expect and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    rec = orjson.loads(record.value or b"{}")
                    emitted = float(rec.get("emitted_ts", 0.0))
                    first = emitted if not seen else min(first, emitted)
                    last = max(last, emitted)
                    seen += int(rec.get("events", 1))
    finally:
        await consumer.stop()
    return seen, last - first


def worker_rate(settings: Settings, n: int, users: int, workdir: Path) -> float:
    asyncio.run(preload(settings, synthetic_messages(n, users, settings.seed)))
    worker = start_worker(settings, workdir / "bench-worker.log")
    try:
        seen, span = asyncio.run(recommendation_span(settings, n, timeout=600))
    finally:
        worker.stop()
    if seen < n:
        raise RuntimeError(f"recommendations covered only {seen} of {n} events; see {workdir}")
    return n / span


def bare_faust_rate(settings: Settings, n: int, workdir: Path) -> float:
    """The same topic through ``streams.devtools.bare_agent`` in its own process."""
    result = workdir / "bare.json"
    env = {**os.environ, **settings.as_env(), "BARE_EXPECT": str(n), "BARE_RESULT": str(result)}
    with (workdir / "bare.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.devtools.bare_agent"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    bare = ManagedProcess("bare-faust", process, 0)
    try:
        deadline = time.monotonic() + 600
        while not result.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
    finally:
        bare.stop()
    if not result.exists():
        raise RuntimeError(f"the bare faust agent did not finish; see {workdir / 'bare.log'}")
    figures = orjson.loads(result.read_bytes())
    return float(figures["events"]) / float(figures["seconds"])


async def paced_latency(settings: Settings, rate: float, users: int) -> LatencyTracker:
    latency = LatencyTracker()
    stream = DemoStream(users, settings.seed + 2, latency, malformed_every=0)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(DemoWatch(settings, stream, set(), latency), stop))
    await asyncio.sleep(1.0)  # let the watcher reach the end of the topic
    async with EventProducer(settings) as producer:
        await producer.send_all(stream.messages(time.monotonic() + LATENCY_SECONDS), rate)
    deadline = time.monotonic() + 30
    while latency.pending and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stop.set()
    await watcher
    return latency


def latency_run(settings: Settings, rate: float, users: int, workdir: Path) -> LatencyTracker:
    worker = start_worker(settings, workdir / "latency-worker.log")
    try:
        asyncio.run(wait_for_worker(settings, worker, timeout=60))
        return asyncio.run(paced_latency(settings, rate, users))
    finally:
        worker.stop()


def run_bench(
    base: Settings,
    events: int,
    users: int,
    latency_rate: float,
    out: str | None,
    workdir: Path | None = None,
) -> int:
    with embedded_services(workdir) as services:
        settings = demo_settings(base, services)
        print(
            f"bench: {events} events, {users} users, {settings.topic_partitions} partitions, "
            f"batch {settings.batch_size}",
            flush=True,
        )
        throughput = settings.replace(
            topic_interactions="bench-interactions",
            topic_recommendations="bench-recommendations",
            app_id="bench-worker",
        )
        rate = worker_rate(throughput, events, users, services.workdir)
        print(f"  worker            {rate:9.0f} events/s", flush=True)
        bare = bare_faust_rate(throughput.replace(app_id="bench-bare"), events, services.workdir)
        print(f"  bare faust agent  {bare:9.0f} events/s", flush=True)
        asyncio.run(ensure_topics(settings))
        latency = latency_run(settings, latency_rate, users, services.workdir)
    p50, p99 = latency.percentiles()
    figures: dict[str, Any] = {
        "events": events,
        "users": users,
        "worker_events_per_s": round(rate, 1),
        "bare_faust_events_per_s": round(bare, 1),
        "ratio_worker_to_bare": round(rate / bare, 3),
        "latency_rate_per_s": latency_rate,
        "latency_p50_ms": round(p50 * 1000, 2),
        "latency_p99_ms": round(p99 * 1000, 2),
        "latency_samples": latency.count,
    }
    print(f"  ratio worker/bare {rate / bare:9.3f}")
    print(
        f"  latency at {latency_rate:g}/s  p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"({latency.count} events)"
    )
    if out:
        Path(out).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0
