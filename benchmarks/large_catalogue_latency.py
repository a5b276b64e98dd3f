"""End-to-end paced latency of one real worker on a large catalogue (issue 9).

Embedded broker and redis-server; for each catalogue size: a synthetic
clustered catalogue (``benchmarks/ann_topk.py``'s generator, dim 64) is
published as a model version the way the trainer does
(:meth:`state.model_registry.ModelRegistry.publish`: ``items:<version>`` and
``long-term-items:<version>`` hashes written in chunks, then the record and
the version pointer); one worker process starts, loads the version and,
above ``INTERESTS_ANN_MIN_ITEMS``, builds its HNSW index (the time from the
worker's start to its swap is reported, with the worker's own split from its
log). Then events are paced at each of ``--rates`` per second in turn (on the
same warm worker) over ``--users`` users, each user's items drawn from two
clusters of the catalogue: ``--warmup-s``
seconds not timed, then ``--seconds`` timed, each event from its send (its
``ts``) to the arrival of the recommendation that covers it at a consumer of
the recommendations topic. Reported per size: p50/p95/p99/max latency, the
worker's CPU per event (``/proc``, over the timed phase, with redis-server's
and the broker's), the worker's batches (count, mean size, apply time per
batch, from its totals log) and the one-minute load.

Every size runs in the same embedded services, one after the other, each
under names of its own (``streams.devtools.isolation``), so the ratio of the
large catalogue to the small one is fair.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/large_catalogue_latency.py \\
        --items 10000 1000000 --out benchmarks/results/large-catalogue-latency.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # this process paces and reads; before numpy

import argparse
import asyncio
import itertools
import re
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer

from benchmarks.ann_topk import catalogue
from state.model_registry import ModelRecord, ModelRegistry
from streams.devtools.bench import process_cpu_s
from streams.devtools.demo import EMBEDDED_FETCH_WAIT_MS
from streams.devtools.embedded import (
    ManagedProcess,
    embedded_services,
    free_port,
    start_worker,
)
from streams.devtools.event_producer import EventProducer
from streams.devtools.isolation import own_names
from streams.devtools.latency import LatencyTracker
from streams.devtools.synthetic import DEFAULT_TYPE_MIX
from streams.security import kafka_client_options
from streams.settings import Settings
from streams.topics import ensure_topics
from streams.worker.events import Event

CLUSTERS_PER_USER = 2
"""Each synthetic user picks items from this many clusters of the catalogue."""
STATS_LOG_S = 1.0
"""The worker's totals log interval here: the timed phase's batches are read from it."""
PROBE_TIMEOUT_S = 120.0
"""Longest wait for the answer to the first event (the worker joining its group)."""
METRIC = re.compile(
    r"^interests_(batch|redis_roundtrip)_seconds_(sum|count)\{(?:stage|op)=\"(\w+)\"\} (\S+)$"
)
TOTALS = re.compile(r"totals: applied=(\d+) .* batches=(\d+) mean_batch=[\d.]+ apply_s=([\d.]+)")
MODEL_LOG = re.compile(
    r"model (\S+): (\d+) items loaded in ([\d.]+)s, top-K index (.+?) in ([\d.]+)s"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 where /proc has no answer)."""
    return process_cpu_s(pid) or 0.0


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass
class Catalogue:
    """Item ids and vectors, and each cluster's item ids (for the users' events)."""

    ids: list[str]
    vectors: np.ndarray
    by_cluster: list[np.ndarray]

    @classmethod
    def synthetic(cls, n: int, dim: int, seed: int) -> Catalogue:
        rows, label = catalogue(n, dim, np.random.default_rng(seed))
        order = np.argsort(label, kind="stable")
        bounds = np.searchsorted(label[order], np.arange(label.max() + 2))
        clusters = [order[bounds[c] : bounds[c + 1]] for c in range(label.max() + 1)]
        return cls([f"i{i}" for i in range(n)], rows, [c for c in clusters if c.size])


class PacedUsers:
    """Events of ``users`` users, each choosing items of their own clusters, stamped when sent."""

    def __init__(
        self, items: Catalogue, users: int, seed: int, latency: LatencyTracker, tag: str = "p"
    ) -> None:
        self.items = items
        self.tag = tag
        self.rng = np.random.default_rng(seed)
        self.users = users
        self.clusters = self.rng.integers(0, len(items.by_cluster), (users, CLUSTERS_PER_USER))
        self.types = list(DEFAULT_TYPE_MIX)
        self.type_p = np.asarray(list(DEFAULT_TYPE_MIX.values()))
        self.type_p /= self.type_p.sum()
        self.latency = latency
        self.count = 0

    def messages(self, until: float, track: bool) -> Iterator[tuple[bytes, bytes]]:
        while time.monotonic() < until:
            user = int(self.rng.integers(self.users))
            members = self.items.by_cluster[int(self.rng.choice(self.clusters[user]))]
            item = self.items.ids[int(members[int(self.rng.integers(members.size))])]
            self.count += 1
            event = Event(
                user_id=f"u{user}",
                item_id=item,
                type=str(self.rng.choice(self.types, p=self.type_p)),
                ts=round(time.time(), 3),
                event_id=f"{self.tag}{self.count}",
            )
            if track:
                self.latency.sent(event.event_id or "", event.user_id)
            yield event.user_id.encode(), event.to_json()


def publish(settings: Settings, items: Catalogue) -> float:
    """Write the catalogue as a model version, as the trainer publishes; seconds taken."""
    registry = ModelRegistry.from_url(
        settings.redis_url, settings.redis_prefix, settings.user_ttl_s
    )
    started = time.perf_counter()
    try:
        version = registry.next_version()
        vectors = dict(zip(items.ids, items.vectors, strict=True))
        record = ModelRecord(version, "synthetic", "synthetic.pt", items.ids, {"synthetic": True})
        registry.publish(record, vectors, {})
    finally:
        registry.close()
    return time.perf_counter() - started


async def read_recommendations(
    settings: Settings, trackers: list[LatencyTracker], stop: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(
        settings.topic_recommendations,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="latest",
        group_id=None,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        **kafka_client_options(settings),
    )
    await consumer.start()
    try:
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    event_id = orjson.loads(record.value or b"{}").get("event_id")
                    if event_id:
                        for latency in trackers:
                            latency.received(str(event_id))
    finally:
        await consumer.stop()


async def paced(
    settings: Settings,
    stream: PacedUsers,
    rate: float,
    warmup_s: float,
    seconds: float,
    pids: dict[str, int],
) -> dict[str, Any]:
    stop = asyncio.Event()
    probe = LatencyTracker()
    reader = asyncio.create_task(read_recommendations(settings, [probe, stream.latency], stop))
    await asyncio.sleep(2.0)  # the reader at the topic's end before the first event
    async with EventProducer(settings, linger_ms=0) as producer:
        # One event answered first: the worker's group is joined and fetching.
        first = PacedUsers(stream.items, 1, 0, probe, tag="probe")
        await producer.send_all(itertools.islice(first.messages(float("inf"), True), 1))
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while probe.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if probe.pending:
            raise RuntimeError(f"the worker answered no event within {PROBE_TIMEOUT_S:.0f}s")
        await producer.send_all(stream.messages(time.monotonic() + warmup_s, track=False), rate)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        sent = await producer.send_all(stream.messages(started + seconds, track=True), rate)
        send_s = time.monotonic() - started
    deadline = time.monotonic() + 60
    while stream.latency.pending and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    stop.set()
    await reader
    return {"sent": sent, "send_s": send_s, "cpu": cpu}


def wait_for_swap(worker: ManagedProcess, log_path: Path, timeout: float) -> dict[str, Any]:
    """Until the worker logs its swap to the published version; the worker's split."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if worker.process.poll() is not None:
            raise RuntimeError(f"the worker exited while loading; see {log_path}")
        text = log_path.read_text(errors="replace")
        if "swapped model" in text:
            found = MODEL_LOG.search(text)
            out: dict[str, Any] = {"worker_start_to_swap_s": round(time.monotonic() - started, 1)}
            if found:
                out |= {
                    "worker_load_items_s": float(found.group(3)),
                    "index": found.group(4),
                    "worker_index_s": float(found.group(5)),
                }
            return out
        time.sleep(0.5)
    raise RuntimeError(f"no swap within {timeout:.0f}s; see {log_path}")


def scrape(settings: Settings) -> dict[str, float]:
    """Sums and counts of the worker's batch-stage and Redis round-trip histograms (its
    ``/metrics``); empty when metrics are off."""
    if not settings.metrics_port:
        return {}
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        found = METRIC.match(line)
        if found:
            what, kind, label, value = found.groups()
            out[f"{what}:{label}:{kind}"] = float(value)
    return out


def profile(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per batch, in ms, over one phase: apply (its Redis read and write, and the rest:
    decode, fold, top-K, explanations) and produce."""

    def spent(name: str) -> float:
        return after.get(f"{name}:sum", 0.0) - before.get(f"{name}:sum", 0.0)

    batches = after.get("batch:apply:count", 0.0) - before.get("batch:apply:count", 0.0)
    n = max(1.0, batches)
    apply, read, write = (
        spent("batch:apply"),
        spent("redis_roundtrip:read"),
        spent("redis_roundtrip:write"),
    )
    return {
        "batches": batches,
        "apply_ms": round(1000 * apply / n, 2),
        "redis_read_ms": round(1000 * read / n, 2),
        "redis_write_ms": round(1000 * write / n, 2),
        "compute_ms": round(1000 * (apply - read - write) / n, 2),
        "produce_ms": round(1000 * spent("batch:produce") / n, 2),
    }


def totals(log_path: Path) -> list[tuple[int, int, float]]:
    """(applied, batches, apply seconds) of each totals line of the worker's log so far."""
    return [
        (int(a), int(b), float(s))
        for a, b, s in TOTALS.findall(log_path.read_text(errors="replace"))
    ]


def run_size(
    base: Settings,
    services_pids: dict[str, int],
    n_items: int,
    args: argparse.Namespace,
    workdir: Path,
) -> dict[str, Any]:
    """Publish ``n_items``, start one worker, time each of ``args.rates`` on it."""
    label = f"large-{n_items}"
    settings = base.replace(**own_names(label))
    asyncio.run(ensure_topics(settings))
    started = time.perf_counter()
    items = Catalogue.synthetic(n_items, settings.vector_size, args.seed)
    generate_s = time.perf_counter() - started
    publish_s = publish(settings, items)
    print(
        f"{n_items} items: generated in {generate_s:.1f}s, published in {publish_s:.1f}s "
        f"(load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    log_path = workdir / f"{label}-worker.log"
    worker = start_worker(settings, log_path)
    row: dict[str, Any] = {"items": n_items, "publish_s": round(publish_s, 1)}
    try:
        row |= wait_for_swap(worker, log_path, args.swap_timeout_s)
        row["worker_rss_mb_after_swap"] = round(rss_mb(worker.process.pid), 0)
        print(f"  worker swapped: {row}", flush=True)
        pids = {"worker": worker.process.pid, **services_pids}
        row["runs"] = []
        for n, rate in enumerate(args.rates):
            stream = PacedUsers(items, args.users, args.seed + 1 + n, LatencyTracker(), f"r{n}-")
            run = timed_run(settings, stream, rate, args, pids, log_path)
            run["worker_rss_mb"] = round(rss_mb(worker.process.pid), 0)
            print(f"  {orjson.dumps(run).decode()}", flush=True)
            row["runs"].append(run)
    finally:
        worker.stop()
    return row


def timed_run(
    settings: Settings,
    stream: PacedUsers,
    rate: float,
    args: argparse.Namespace,
    pids: dict[str, int],
    log_path: Path,
) -> dict[str, Any]:
    """One paced phase on a warm worker: latency, CPU per event, the worker's batches."""
    before = totals(log_path) or [(0, 0, 0.0)]  # no batch yet: from zero
    metrics_before = scrape(settings)
    load = os.getloadavg()[0]
    outcome = asyncio.run(paced(settings, stream, rate, args.warmup_s, args.seconds, pids))
    time.sleep(STATS_LOG_S * 1.5)
    after = totals(log_path)
    metrics_after = scrape(settings)
    latency = stream.latency
    seconds = latency.seconds()
    p50, p95, p99 = (
        (np.percentile(seconds, [50, 95, 99]) * 1000).tolist() if seconds.size else [0.0] * 3
    )
    sent = outcome["sent"]
    run: dict[str, Any] = {
        "rate_per_s": rate,
        "sent": sent,
        "sent_rate_per_s": round(sent / outcome["send_s"], 1),
        "timed": int(seconds.size),
        "not_answered": latency.pending,
        "latency_ms": {
            "p50": round(p50, 1),
            "p95": round(p95, 1),
            "p99": round(p99, 1),
            "max": round(float(seconds.max()) * 1000, 1) if seconds.size else None,
        },
        "cpu_ms_per_event": {k: round(1000 * v / sent, 3) for k, v in outcome["cpu"].items()},
        "load_1m_at_start": round(load, 2),
        "load_1m_at_end": round(os.getloadavg()[0], 2),
    }
    if after:
        # From the last totals line before the warm-up to the last one after the timed phase.
        applied = after[-1][0] - before[-1][0]
        batches = after[-1][1] - before[-1][1]
        apply_s = after[-1][2] - before[-1][2]
        run["worker_batches"] = {
            "batches": batches,
            "mean_events": round(applied / max(1, batches), 1),
            "apply_ms_per_batch": round(1000 * apply_s / max(1, batches), 2),
            "span": "warm-up and timed phases together",
        }
    if metrics_after:
        run["worker_profile_per_batch"] = profile(metrics_before, metrics_after)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[1000.0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--swap-timeout-s", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here")
    parser.add_argument(
        "--metrics", action="store_true", help="the worker's /metrics on: per-stage batch times"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="large-catalogue-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with embedded_services(workdir) as services:
            base = Settings.from_env(  # INTERESTS_* of this process apply (e.g. ANN_EF)
                kafka_bootstrap=services.kafka_bootstrap,
                redis_url=services.redis_url,
                broker_rebalance_timeout_s=3.0,
                broker_session_timeout_s=6.0,
                stats_log_interval_s=STATS_LOG_S,
                fetch_max_wait_ms=EMBEDDED_FETCH_WAIT_MS,  # Tansu holds a fetch its whole wait
                metrics_port=free_port() if args.metrics else 0,
            )
            pids = {"redis": services.redis.process.pid, "broker": services.broker.process.pid}
            print(
                f"large catalogue: {args.items} items, {args.users} users, {args.rates}/s for "
                f"{args.seconds:g}s after {args.warmup_s:g}s, load {load[0]:.1f} on "
                f"{os.cpu_count()} cores",
                flush=True,
            )
            for n_items in args.items:
                rows.append(run_size(base, pids, n_items, args, workdir))
    figures = {
        "load_before": load,
        "load_after": os.getloadavg(),
        "cores": os.cpu_count(),
        "ann_min_items": base.ann_min_items,
        "ann_ef": base.ann_ef,
        "batch_size": base.batch_size,
        "batch_within_s": base.batch_within_s,
        "rows": rows,
    }
    if args.out:
        args.out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
