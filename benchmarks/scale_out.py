"""Throughput with 1, 2 and 4 worker processes in one consumer group.

Embedded broker (8 partitions) and Redis (or ``--cluster``: a 3-primary
Redis Cluster). For each worker count: start the workers on an empty topic,
wait until the group is stable with every worker holding partitions, then
send the events as fast as the producer can and time from the first to the
last recommendation (a recommendation says how many events it covers). CPU
per process comes from /proc (user + system time over the same span), for
the workers, redis-server(s) and the broker, so the table shows where the
machine's cores go. Then every user's ``events_applied`` is checked exactly.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/scale_out.py --events 20000 --out /tmp/scale.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient

from streams.devtools.bench import recommendation_span, synthetic_messages
from streams.devtools.embedded import (
    ManagedProcess,
    embedded_services,
    start_worker,
)
from streams.devtools.embedded_cluster import embedded_cluster
from streams.devtools.event_producer import EventProducer
from streams.devtools.isolation import own_outputs
from streams.read_side import open_reader
from streams.settings import Settings
from streams.topics import ensure_topics

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


async def group_stable(settings: Settings, members: int, timeout: float) -> None:
    """Until the consumer group is Stable with ``members`` members."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                described = await admin.describe_consumer_groups([settings.app_id])
                last = described
                group = described[0].groups[0] if hasattr(described[0], "groups") else None
                if group is not None:
                    state, got = group[2], group[5]
                    # The embedded broker leaves assignments out of its answer: count members.
                    if state == "Stable" and len(got) == members:
                        return
            except Exception as exc:  # the coordinator not known yet: ask again
                last = exc
            await asyncio.sleep(0.5)
        raise RuntimeError(f"group {settings.app_id} not stable with {members} members: {last}")
    finally:
        await admin.close()


def applied_exactly(settings: Settings, expected: Counter[str]) -> bool:
    reader = open_reader(settings)
    try:
        for user_id, count in expected.items():
            state = reader.get_user(user_id)
            if (state.events_applied if state else 0) != count:
                return False
        return True
    finally:
        reader.close()


def run_one(
    base: Settings, workers: int, events: int, users: int, workdir: Path, others: list[int]
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    settings = base.replace(
        **own_outputs(f"scale-{workers}-{tag}"), topic_interactions=f"scale-in-{tag}"
    )
    asyncio.run(ensure_topics(settings))
    messages = synthetic_messages(events, users, settings.seed)
    expected = Counter(k.decode() for k, _ in messages)
    procs: list[ManagedProcess] = []
    try:
        for n in range(workers):
            procs.append(start_worker(settings, workdir / f"scale-{workers}-{n}.log"))
        asyncio.run(group_stable(settings, workers, timeout=120))
        time.sleep(3.0)  # let the last assignment settle into fetching
        pids = [p.process.pid for p in procs]
        before = [cpu_seconds(p) for p in pids + others]

        sent_s = 0.0

        async def send_and_time() -> tuple[int, float]:
            nonlocal sent_s
            timing = asyncio.create_task(recommendation_span(settings, events, timeout=900))
            start = time.monotonic()
            async with EventProducer(settings) as producer:
                await producer.send_all(messages)
            sent_s = time.monotonic() - start
            return await timing

        started = time.monotonic()
        seen, span = asyncio.run(send_and_time())
        wall = time.monotonic() - started
        after = [cpu_seconds(p) for p in pids + others]
        deadline = time.monotonic() + 120
        exact = applied_exactly(settings, expected)
        while not exact and time.monotonic() < deadline:
            time.sleep(1.0)
            exact = applied_exactly(settings, expected)
    finally:
        for proc in procs:
            proc.stop()
    cpu = [round(a - b, 2) for a, b in zip(after, before, strict=True)]
    return {
        "workers": workers,
        "events": events,
        "covered": seen,
        "span_s": round(span, 2),
        "events_per_s": round(events / span, 1),
        "wall_s": round(wall, 2),
        "produce_s": round(sent_s, 2),
        "worker_cpu_s": cpu[:workers],
        "worker_cpu_share": [round(c / span, 2) for c in cpu[:workers]],
        "other_cpu_s": cpu[workers:],
        # CPU per event, robust to a busy machine (rates are not: see the load).
        "worker_cpu_ms_per_event": round(1000 * sum(cpu[:workers]) / events, 3),
        "other_cpu_ms_per_event": round(1000 * sum(cpu[workers:]) / events, 3),
        "exact_counts": exact,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cluster", action="store_true", help="a 3-primary Redis Cluster")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    base = Settings.from_env(
        {},
        topic_partitions=8,
        broker_rebalance_timeout_s=3.0,
        broker_session_timeout_s=6.0,
    )
    rows = []
    load = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="scale-out-") as tmp,
        embedded_services(Path(tmp)) as services,
        contextlib.ExitStack() as stack,
    ):
        url = services.redis_url
        others = [services.redis.process.pid, services.broker.process.pid]
        names = ["redis", "broker"]
        if args.cluster:
            cluster = stack.enter_context(embedded_cluster(Path(tmp) / "cluster"))
            url = cluster.url
            others = [n.process.pid for n in cluster.nodes] + [services.broker.process.pid]
            names = [f"redis-{n.port}" for n in cluster.nodes] + ["broker"]
        settings = base.replace(kafka_bootstrap=services.kafka_bootstrap, redis_url=url)
        print(
            f"scale-out: {args.events} events, {args.users} users, 8 partitions, "
            f"{'3-primary cluster' if args.cluster else 'one redis-server'}, "
            f"load {load[0]:.1f} on {os.cpu_count()} cores",
            flush=True,
        )
        for workers in args.workers:
            row = run_one(settings, workers, args.events, args.users, Path(tmp), others)
            row["other_names"] = names
            rows.append(row)
            ratio = row["events_per_s"] / rows[0]["events_per_s"]
            print(
                f"  {workers} worker(s): {row['events_per_s']:8.0f} events/s "
                f"(x{ratio:.2f}, sent in {row['produce_s']}s)  "
                f"worker CPU/s {row['worker_cpu_share']}  "
                f"CPU ms/event worker {row['worker_cpu_ms_per_event']} "
                f"others {row['other_cpu_ms_per_event']} "
                f"{dict(zip(names, row['other_cpu_s'], strict=True))}  "
                f"exact={row['exact_counts']}",
                flush=True,
            )
    figures = {
        "load_before": load,
        "load_after": os.getloadavg(),
        "cores": os.cpu_count(),
        "cluster": args.cluster,
        "rows": rows,
    }
    if args.out:
        args.out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0 if all(r["exact_counts"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
