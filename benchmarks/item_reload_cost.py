"""A worker's periodic item reload on a large catalogue: the whole hash vs the change log.

Publishes ``--items`` synthetic vectors (``benchmarks/ann_topk.py``'s generator) as a
model version on an embedded redis-server, then times, wall and CPU of this process:

- the full read a worker did every ``INTERESTS_ITEM_REFRESH_S`` before the change
  log (``HSCAN`` of ``ie:items:<version>``) and loading it into an item table;
- the read it does now: another worker steps ``--changed`` items in writes of
  ``--per-write`` (what 10 s at 1,000 events/s steps at most), then the reader
  reads the change log since its cursor and ``HMGET``s those items.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/item_reload_cost.py --items 1000000
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from benchmarks.ann_topk import catalogue
from models import ItemTable
from state import SharedWrite, UserStateStore
from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from streams.devtools.embedded import start_redis

VERSION = "gru-1"
T = TypeVar("T")


async def timed(what: Callable[[], Awaitable[T]], into: dict[str, Any], name: str) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = await what()
    into[f"{name}_wall_s"] = round(time.perf_counter() - wall, 3)
    into[f"{name}_cpu_s"] = round(time.process_time() - cpu, 3)
    return result


async def measure(url: str, args: argparse.Namespace, ids: list[str]) -> dict[str, Any]:
    store = UserStateStore.from_url(url, KeyLayout("ie:"), args.dim, 60, 10)
    writer = UserStateStore.from_url(url, KeyLayout("ie:"), args.dim, 60, 10)
    out: dict[str, Any] = {"items": len(ids), "dim": args.dim}
    try:
        await store.prepare()
        await writer.prepare()
        table = ItemTable(args.dim, 7, max_items=len(ids))
        cursor = await store.item_changes_cursor(VERSION)
        vectors = await timed(lambda: store.load_items(VERSION), out, "full_read")

        async def fill() -> None:
            table.load(vectors)

        await timed(fill, out, "full_table_load")
        step = np.full(args.dim, 0.01, np.float32)
        rng = np.random.default_rng(1)
        changed = rng.choice(len(ids), args.changed, replace=False)
        for at in range(0, args.changed, args.per_write):
            part = {ids[i]: step for i in changed[at : at + args.per_write]}
            await writer.write([], SharedWrite(VERSION, item_deltas=part))
        read = await timed(lambda: store.load_changed_items(VERSION, cursor), out, "changes_read")
        out["changes_items"] = len(read[0])
        vectors = read[0]
        await timed(fill, out, "changes_table_load")
    finally:
        await store.aclose()
        await writer.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--per-write", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reload-cost-") as tmp:
        redis = start_redis(Path(tmp))
        url = f"redis://127.0.0.1:{redis.port}/0"
        try:
            rows, _ = catalogue(args.items, args.dim, np.random.default_rng(7))
            ids = [f"i{i}" for i in range(args.items)]
            registry = ModelRegistry.from_url(url, "ie:", 3600)
            try:
                record = ModelRecord(VERSION, "synthetic", "synthetic.pt", [], {})
                registry.publish(record, dict(zip(ids, rows, strict=True)), {})
            finally:
                registry.close()
            del rows
            load = os.getloadavg()[0]
            report = asyncio.run(measure(url, args, ids))
        finally:
            redis.stop()
    report["load_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
