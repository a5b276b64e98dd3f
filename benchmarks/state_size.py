"""How much state the service keeps: Redis bytes per user and per item, worker RSS vs items.

1. Users: a real worker's batch path (``InterestUpdater`` on a real
   redis-server, d=64 by default) applies a synthetic stream to ``--sample``
   users, and the trainer's long-term fields are added (a d-float vector and
   a GRU state); ``MEMORY USAGE`` of every sampled user's hash and history is
   averaged. Then the sampled users' field values are copied to
   ``--users`` keys (pipelined ``HSET``/``EXPIRE``, same sizes and encodings,
   no history) and Redis's ``used_memory`` growth is divided by the count.
   Goal (issue 10 item 3): at most 1 KB per user without history.
2. Items: ``MEMORY USAGE`` of the online item vectors, the catalogue and the
   ageing dates, per item.
3. Worker RSS: a fresh process streams ``--items`` distinct new item ids
   through the item table (as events do), uncapped and with the default cap
   (``INTERESTS_ITEM_TABLE_MAX``), and reports its resident memory.

    PYTHONPATH=$PWD python benchmarks/state_size.py --users 1000000
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis
import redis.asyncio as aioredis

from models.item_table import ItemTable
from state.codec import encode_vector
from state.item_ageing import ItemAgeing, gone_at_key, seen_key
from state.keys import KeyLayout
from state.store import UserStateStore
from streams.devtools.embedded import start_redis
from streams.devtools.synthetic import DriftConfig, DriftingUsers
from streams.settings import Settings
from streams.worker.interest_updater import Incoming, InterestUpdater

KEYS = KeyLayout("ie:")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _fill_sample(url: str, settings: Settings, users: int, events: int) -> None:
    """The real batch path writes ``users`` users from ``events`` synthetic events."""
    store = UserStateStore.from_url(
        url, KEYS, settings.vector_size, settings.user_ttl_s, settings.history_length
    )
    updater = InterestUpdater(settings, store)
    updater.measure = False
    await updater.start()
    stream = DriftingUsers(DriftConfig(users=users, items_per_category=500, seed=3))
    batch: list[Incoming] = []
    for offset, synthetic in enumerate(stream.take(events)):
        e = synthetic.event
        batch.append(Incoming("interactions", 0, offset, e.to_json(), e.user_id.encode()))
        if len(batch) == settings.batch_size:
            await updater.apply(batch)
            batch = []
    if batch:
        await updater.apply(batch)
    await store.aclose()


def _add_long_term(client: redis.Redis, dim: int, gru_state: int) -> None:
    """What the trainer's publish adds to every user: long_term and the GRU state."""
    rng = np.random.default_rng(0)
    with client.pipeline(transaction=False) as pipe:
        for key in client.scan_iter(match=KEYS.user_pattern(), count=1000):
            pipe.hset(
                key,
                mapping={
                    "long_term": encode_vector(rng.standard_normal(dim).astype(np.float32)),
                    "long_term_version": "gru-1700000000",
                    "long_term_state": encode_vector(
                        rng.standard_normal(gru_state).astype(np.float32)
                    ),
                    "long_term_state_version": "gru-1700000000",
                },
            )
        pipe.execute()


def _memory(client: redis.Redis, keys: list[str]) -> list[int]:
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key, samples=0)
        return [int(v or 0) for v in pipe.execute()]


def users_figures(client: redis.Redis, url: str, args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(vector_size=args.dim, redis_url=url)
    asyncio.run(_fill_sample(url, settings, args.sample, args.sample * args.events_per_user))
    _add_long_term(client, args.dim, args.gru_state)
    hashes = [k.decode() for k in client.scan_iter(match=KEYS.user_pattern(), count=1000)]
    ids = [KEYS.user_id_of(k) for k in hashes]
    hash_bytes = _memory(client, hashes)
    history_bytes = _memory(client, [KEYS.history(u) for u in ids])
    fields: dict[str, list[int]] = {}
    for key in hashes[:200]:
        for name, value in client.hgetall(key).items():
            fields.setdefault(name.decode(), []).append(len(value))
    field_bytes = {name: round(float(np.mean(v)), 1) for name, v in sorted(fields.items())}
    encoding = client.object("encoding", hashes[0])
    out: dict[str, Any] = {
        "dim": args.dim,
        "sampled_users": len(hashes),
        "hash_encoding": encoding.decode() if isinstance(encoding, bytes) else encoding,
        "hash_bytes_mean": round(float(np.mean(hash_bytes)), 1),
        "history_bytes_mean": round(float(np.mean(history_bytes)), 1),
        "history_items_mean": round(
            float(np.mean([client.llen(KEYS.history(u)) for u in ids[:500]])), 1
        ),
        "field_value_bytes_mean": field_bytes,
    }
    print(json.dumps(out), file=sys.stderr, flush=True)
    rows = [client.hgetall(k) for k in hashes]
    _flush(client)
    if args.users:
        out["bulk"] = _bulk(client, rows, args.users, settings.user_ttl_s, None, ())
    # What a deployment or a leaner hash would save (fewer users: the cost is per user).
    variants = {
        "listpack_value_1024": (1024, ()),
        "listpack_value_1024_without_recommendations": (1024, (b"recommendations",)),
    }
    for name, (listpack, dropped) in variants.items():
        out[name] = _bulk(client, rows, args.variant_users, settings.user_ttl_s, listpack, dropped)
    return out


def _bulk(
    client: redis.Redis,
    rows: list[dict[bytes, bytes]],
    users: int,
    ttl_s: int,
    listpack_value: int | None,
    dropped: tuple[bytes, ...],
) -> dict[str, Any]:
    """``users`` copies of the sampled hashes (round robin): used_memory growth per user."""
    default = client.config_get("hash-max-listpack-value")["hash-max-listpack-value"]
    if listpack_value is not None:
        client.config_set("hash-max-listpack-value", listpack_value)
    rows = [{k: v for k, v in row.items() if k not in dropped} for row in rows]
    before = int(client.info("memory")["used_memory"])
    started = time.perf_counter()
    with client.pipeline(transaction=False) as pipe:
        for n in range(users):
            key = KEYS.user(f"user-{n:08d}")
            pipe.hset(key, mapping=rows[n % len(rows)])  # type: ignore[arg-type]
            pipe.expire(key, ttl_s)
            if n % 5000 == 4999:
                pipe.execute()
        pipe.execute()
    after = int(client.info("memory")["used_memory"])
    encoding = client.object("encoding", KEYS.user("user-00000000"))
    figures = {
        "users": users,
        "hash_max_listpack_value": listpack_value or int(default),
        "without_fields": [f.decode() for f in dropped],
        "encoding": encoding.decode() if isinstance(encoding, bytes) else encoding,
        "write_s": round(time.perf_counter() - started, 1),
        "used_memory_mb": round(after / 2**20, 1),
        "bytes_per_user": round((after - before) / users, 1),
    }
    print(json.dumps(figures), file=sys.stderr, flush=True)
    _flush(client)
    client.config_set("hash-max-listpack-value", default)
    return figures


def _flush(client: redis.Redis) -> None:
    """Empty the database and wait until its memory is freed (lazy freeing included)."""
    client.flushdb()
    while int(client.info("memory").get("lazyfree_pending_objects", 0)):
        time.sleep(0.2)


def items_figures(client: redis.Redis, args: argparse.Namespace) -> dict[str, Any]:
    """Online vectors, catalogue entries and ageing dates of ``--catalogue`` items."""
    n = args.catalogue
    rng = np.random.default_rng(1)
    with client.pipeline(transaction=False) as pipe:
        for start in range(0, n, 5000):
            ids = [f"sku-{i:08d}" for i in range(start, min(n, start + 5000))]
            vectors = rng.standard_normal((len(ids), args.dim)).astype(np.float32)
            pipe.hset(
                KEYS.items("online"),
                mapping={i: encode_vector(v) for i, v in zip(ids, vectors, strict=True)},
            )
            entry = {
                i: json.dumps({"item_id": i, "title": f"Item {i}", "tags": ["a"]}) for i in ids
            }
            pipe.hset(KEYS.item_meta(), mapping=entry)  # type: ignore[arg-type]
            pipe.execute()
    ids = [f"sku-{i:08d}" for i in range(n)]
    with client.pipeline(transaction=False) as pipe:
        for start in range(0, n, 5000):
            pipe.zadd(seen_key(KEYS), dict.fromkeys(ids[start : start + 5000], 1.0))
        pipe.execute()
    usage = {
        "online_vector": _memory(client, [KEYS.items("online")])[0] / n,
        "catalogue_entry": _memory(client, [KEYS.item_meta()])[0] / n,
        "seen_date": _memory(client, [seen_key(KEYS)])[0] / n,
    }
    figures: dict[str, Any] = {"items": n}
    figures.update({f"bytes_per_item_{k}": round(v, 1) for k, v in usage.items()})

    async def sweep() -> tuple[int, int]:
        aclient = aioredis.Redis.from_url(args.redis_url)
        try:
            return await ItemAgeing(aclient, KEYS, 3600).sweep(now=1e9)
        finally:
            await aclient.aclose()

    started = time.perf_counter()
    figures["swept_items"] = asyncio.run(sweep())[0]
    figures["sweep_s"] = round(time.perf_counter() - started, 2)
    figures["online_left_after_sweep"] = int(client.hlen(KEYS.items("online")))
    client.delete(KEYS.item_meta(), gone_at_key(KEYS))
    return figures


def _rss_child(cap: int, items: int, dim: int) -> None:
    """In a fresh process: stream ``items`` new ids through a table, print RSS (MiB)."""
    table = ItemTable(dim, seed=7, max_items=cap or None)
    base = rss_mb()
    marks = {}
    for n in range(items):
        if n % 500 == 0:
            table.begin_batch()  # a batch of 500 events, each a new item
        table.index_of(f"new-item-{n:09d}")
        if (n + 1) % (items // 4) == 0:
            marks[str(n + 1)] = round(rss_mb() - base, 1)
    print(json.dumps({"rows": len(table), "rss_growth_mb_at": marks, "recycled": table.recycled}))


def rss_figures(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"items_streamed": args.items}
    for label, cap in (("uncapped", 0), ("capped", Settings().item_table_max)):
        child = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(cap), str(args.items), str(args.dim)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        out[label] = {"cap": cap or None, **json.loads(child.stdout)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--sample", type=int, default=2000, help="users the real batch path writes")
    parser.add_argument("--events-per-user", type=int, default=20)
    parser.add_argument("--gru-state", type=int, default=64, help="floats of a user's GRU state")
    parser.add_argument("--users", type=int, default=100_000, help="users copied for used_memory")
    parser.add_argument(
        "--variant-users", type=int, default=100_000, help="users per what-if variant"
    )
    parser.add_argument("--catalogue", type=int, default=100_000, help="items for per-item bytes")
    parser.add_argument("--items", type=int, default=1_000_000, help="new ids for worker RSS")
    parser.add_argument("--rss-child", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    if args.rss_child:
        _rss_child(*args.rss_child)
        return
    with tempfile.TemporaryDirectory(prefix="state-size-") as tmp:
        server = start_redis(Path(tmp))
        try:
            args.redis_url = f"redis://127.0.0.1:{server.port}/0"
            client = redis.Redis.from_url(args.redis_url, socket_timeout=600)
            figures = {
                "redis_version": client.info("server")["redis_version"],
                "users": users_figures(client, args.redis_url, args),
                "items": items_figures(client, args),
                "worker_item_table": rss_figures(args),
                "load": os.getloadavg(),
            }
            client.close()
        finally:
            server.stop()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
