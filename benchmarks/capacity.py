"""The figures of docs/capacity.md: Redis bytes per user and per item, Redis
commands per event, Kafka bytes per event in and out, worker CPU per event.

One worker process with default settings (but 8 partitions) applies N
synthetic events of U users on the embedded broker and Redis; then:

- Redis ``used_memory`` growth per user, and ``MEMORY USAGE`` of sampled
  user hashes and history lists, and of the item table per item;
- ``INFO commandstats`` calls during the run per event (what a Redis shard
  must serve);
- the average size of an event and of a recommendation message, and
  recommendations per event (one per user per batch);
- the worker's CPU per event (/proc).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/capacity.py --events 30000 --users 5000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.devtools.bench import recommendation_span, synthetic_messages
from streams.devtools.embedded import embedded_services, start_worker
from streams.devtools.event_producer import EventProducer
from streams.settings import Settings
from streams.topics import ensure_topics

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (as in scale_out.py)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def recommendation_sizes(settings: Settings) -> tuple[int, int]:
    """(messages, bytes) of the recommendations topic, from start to end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        parts = [
            TopicPartition(settings.topic_recommendations, p)
            for p in range(settings.topic_partitions)
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        count = size = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                break
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                count += len(records)
                size += sum(len(r.value or b"") + len(r.key or b"") for r in records)
        return count, size
    finally:
        await consumer.stop()


def calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, dict[str, int]] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    load = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="capacity-") as tmp,
        embedded_services(Path(tmp)) as services,
    ):
        settings = Settings.from_env(
            {},
            kafka_bootstrap=services.kafka_bootstrap,
            redis_url=services.redis_url,
            topic_partitions=8,
            broker_rebalance_timeout_s=3.0,
            broker_session_timeout_s=6.0,
        )
        asyncio.run(ensure_topics(settings))
        admin = redis.Redis.from_url(services.redis_url)
        messages = synthetic_messages(args.events, args.users, settings.seed)
        event_bytes = sum(len(k) + len(v) for k, v in messages) / len(messages)
        memory_before = int(admin.info("memory")["used_memory"])
        worker = start_worker(settings, Path(tmp) / "capacity-worker.log")
        try:
            admin.config_resetstat()
            cpu_before = cpu_seconds(worker.process.pid)

            async def send_and_time() -> tuple[int, float]:
                timing = asyncio.create_task(
                    recommendation_span(settings, args.events, timeout=1200)
                )
                async with EventProducer(settings) as producer:
                    await producer.send_all(messages)
                return await timing

            seen, span = asyncio.run(send_and_time())
            cpu = cpu_seconds(worker.process.pid) - cpu_before
            time.sleep(2.0)  # the last shared write rides with a batch or a timer
            commands = calls(admin)
        finally:
            worker.stop()
        memory_after = int(admin.info("memory")["used_memory"])
        prefix = settings.redis_prefix
        users = sorted({k.decode() for k, _ in messages})
        sample = random.Random(0).sample(users, min(500, len(users)))
        user_bytes = [
            int(admin.memory_usage(f"{prefix}user:{{{u}}}", samples=0) or 0) for u in sample
        ]
        history_bytes = [
            int(admin.memory_usage(f"{prefix}user:{{{u}}}:history", samples=0) or 0) for u in sample
        ]
        # A history at its cap (the run's users have a few items each): the ids of
        # this run's items, INTERESTS_HISTORY_LENGTH of them.
        seen_items = sorted({orjson.loads(v)["item_id"] for _, v in messages[:5000]})
        full = [seen_items[i % len(seen_items)] for i in range(settings.history_length)]
        admin.rpush(f"{prefix}capacity:full-history", *full)
        full_history_bytes = int(admin.memory_usage(f"{prefix}capacity:full-history", samples=0))
        items_key = f"{prefix}items:online"
        items = int(admin.hlen(items_key))
        items_bytes = int(admin.memory_usage(items_key, samples=0) or 0)
        rec_count, rec_bytes = asyncio.run(recommendation_sizes(settings))
        admin.close()
    ours = {k: v for k, v in commands.items() if k not in {"config|resetstat", "info"}}
    total_calls = sum(ours.values())
    figures: dict[str, Any] = {
        "load_before": load,
        "load_after": os.getloadavg(),
        "events": args.events,
        "users": len(users),
        "covered": seen,
        "vector_size": settings.vector_size,
        "history_length": settings.history_length,
        "recent_items": settings.recent_items,
        "top_k": settings.top_k,
        "batch_size": settings.batch_size,
        "events_per_s": round(args.events / span, 1),
        "worker_cpu_ms_per_event": round(1000 * cpu / args.events, 3),
        "redis_used_memory_per_user": round((memory_after - memory_before) / len(users), 1),
        "user_hash_bytes_mean": round(sum(user_bytes) / len(user_bytes), 1),
        "history_list_bytes_mean": round(sum(history_bytes) / len(history_bytes), 1),
        "history_list_bytes_full": full_history_bytes,
        "items": items,
        "item_bytes_mean": round(items_bytes / max(1, items), 1),
        "redis_calls_per_event": round(total_calls / args.events, 3),
        "redis_calls_by_command": ours,
        "kafka_event_bytes_mean": round(event_bytes, 1),
        "recommendations_per_event": round(rec_count / args.events, 3),
        "recommendation_bytes_mean": round(rec_bytes / max(1, rec_count), 1),
    }
    print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
    if args.out:
        args.out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
