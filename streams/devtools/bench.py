"""``interests bench``: worker throughput and latency, against a bare faust agent.

All in one run on the embedded broker and Redis, so the ratio is fair:

1. throughput: N synthetic events are preloaded into a topic; a worker
   process applies them; events/s from its first to its last recommendation
   (a recommendation says how many events it covers: one per user per batch);
2. the same N events through a bare faust agent that consumes them the same
   way (batches of ``INTERESTS_BATCH_SIZE``) and only counts them;
3. latency: with the worker warm, events paced at a fixed rate, timed from
   send to the arrival of the recommendation they caused.

Each side's CPU time per event is reported too (the worker's from ``/proc``,
the bare agent's from its own clock, over the same first-to-last span): on a
shared host the events/s of both sides follow the load from one second to
the next, the CPU each event costs much less so.
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


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) ``pid`` used so far; None where ``/proc`` has no answer."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class Throughput:
    """One side's events/s and CPU seconds per event (None where unmeasured)."""

    rate: float
    cpu_per_event_s: float | None


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


async def recommendation_span(
    settings: Settings, expect: int, timeout: float, pid: int | None = None
) -> tuple[int, float, float | None]:
    """Count the events recommendations cover, the emitted_ts span from first to last,
    and the CPU seconds process ``pid`` used from the first recommendation read to the
    last (None without ``pid``)."""
    consumer = recommendations_reader(settings)
    await consumer.start()
    first = last = 0.0
    seen = 0
    cpu_first: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while seen < expect and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    rec = orjson.loads(record.value or b"{}")
                    if not seen and pid is not None:
                        cpu_first = process_cpu_s(pid)
                    emitted = float(rec.get("emitted_ts", 0.0))
                    first = emitted if not seen else min(first, emitted)
                    last = max(last, emitted)
                    seen += int(rec.get("events", 1))
        cpu_last = process_cpu_s(pid) if pid is not None else None
    finally:
        await consumer.stop()
    cpu = cpu_last - cpu_first if cpu_first is not None and cpu_last is not None else None
    return seen, last - first, cpu


def worker_rate(settings: Settings, n: int, users: int, workdir: Path) -> Throughput:
    asyncio.run(preload(settings, synthetic_messages(n, users, settings.seed)))
    worker = start_worker(settings, workdir / "bench-worker.log")
    try:
        seen, span, cpu = asyncio.run(
            recommendation_span(settings, n, timeout=600, pid=worker.process.pid)
        )
    finally:
        worker.stop()
    if seen < n:
        raise RuntimeError(f"recommendations covered only {seen} of {n} events; see {workdir}")
    return Throughput(n / span, cpu / n if cpu is not None else None)


def bare_faust_rate(settings: Settings, n: int, workdir: Path) -> Throughput:
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
    events = float(figures["events"])
    cpu = figures.get("cpu_seconds")
    return Throughput(events / float(figures["seconds"]), float(cpu) / events if cpu else None)


async def paced_latency(settings: Settings, rate: float, users: int) -> LatencyTracker:
    latency = LatencyTracker()
    stream = DemoStream(users, settings.seed + 2, latency, malformed_every=0)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(DemoWatch(settings, stream, set(), latency), stop))
    await asyncio.sleep(1.0)  # let the watcher reach the end of the topic
    async with EventProducer(settings, linger_ms=0) as producer:  # paced: nothing to batch
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
        worker = worker_rate(throughput, events, users, services.workdir)
        print(f"  worker            {_side(worker)}", flush=True)
        bare = bare_faust_rate(throughput.replace(app_id="bench-bare"), events, services.workdir)
        print(f"  bare faust agent  {_side(bare)}", flush=True)
        rate = worker.rate
        asyncio.run(ensure_topics(settings))
        latency = latency_run(settings, latency_rate, users, services.workdir)
    p50, p99 = latency.percentiles()
    cpu_ratio = (
        bare.cpu_per_event_s / worker.cpu_per_event_s
        if bare.cpu_per_event_s and worker.cpu_per_event_s
        else None
    )
    figures: dict[str, Any] = {
        "events": events,
        "users": users,
        "worker_events_per_s": round(rate, 1),
        "bare_faust_events_per_s": round(bare.rate, 1),
        "ratio_worker_to_bare": round(rate / bare.rate, 3),
        "worker_cpu_us_per_event": _us(worker.cpu_per_event_s),
        "bare_faust_cpu_us_per_event": _us(bare.cpu_per_event_s),
        "cpu_ratio_bare_to_worker": round(cpu_ratio, 3) if cpu_ratio else None,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "latency_rate_per_s": latency_rate,
        "latency_p50_ms": round(p50 * 1000, 2),
        "latency_p99_ms": round(p99 * 1000, 2),
        "latency_samples": latency.count,
    }
    print(f"  ratio worker/bare {rate / bare.rate:9.3f}")
    if cpu_ratio:
        print(f"  CPU/event bare/worker {cpu_ratio:5.3f} (steadier than events/s on a busy host)")
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"  latency at {latency_rate:g}/s  p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
        f"({latency.count} events)"
    )
    if out:
        Path(out).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


def _us(seconds: float | None) -> float | None:
    return round(seconds * 1e6, 1) if seconds is not None else None


def _side(side: Throughput) -> str:
    cpu = f", {side.cpu_per_event_s * 1e6:6.0f} us CPU/event" if side.cpu_per_event_s else ""
    return f"{side.rate:9.0f} events/s{cpu}"
