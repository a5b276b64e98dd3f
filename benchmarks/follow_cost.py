"""What follows cost the worker's batch path, per event, against a local redis-server.

Starts its own ``redis-server`` and publishes a model (``--items`` random item
vectors, a long-term vector for each of ``--users`` users). One in-process
updater (the worker's batch path) then applies batches of ``--batch`` events:

* views of users who follow nobody (the baseline);
* follow events (each user follows ``--follows`` others);
* views of those users while their social vector is fresh (reused);
* the same with ``INTERESTS_SOCIAL_REFRESH_S=0``: every user's social vector
  is recomputed in every batch (the worst case: two extra round trips and a
  read of every followee's vectors).

Reported per phase: wall and process CPU microseconds per event, and the load.

    PYTHONPATH=. .venv/bin/python benchmarks/follow_cost.py [--users 2000 --follows 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from state.codec import encode_vector
from state.connection import RedisEndpoint, outage_client, sync_client
from state.keys import KeyLayout
from state.store import UserStateStore
from streams.devtools.embedded import start_redis
from streams.settings import Settings
from streams.worker.interest_updater import Incoming, InterestUpdater

VERSION = "v1"


def plant(url: str, prefix: str, items: int, users: list[str], dim: int) -> None:
    rng = np.random.default_rng(0)
    client = sync_client(RedisEndpoint(url))
    keys = KeyLayout(prefix)
    vectors = rng.standard_normal((items, dim)).astype(np.float32)
    table = {f"i{n}": encode_vector(v) for n, v in enumerate(vectors)}
    client.hset(keys.items(VERSION), mapping=table)  # type: ignore[arg-type]
    with client.pipeline(transaction=False) as pipe:
        for user in users:
            lt = rng.standard_normal(dim).astype(np.float32)
            fields = {"long_term": encode_vector(lt), "long_term_version": VERSION}
            pipe.hset(keys.user(user), mapping=fields)  # type: ignore[arg-type]
        pipe.execute()
    client.set(keys.model_version(), VERSION)
    client.close()


class Phases:
    """Runs batches through one updater and prints each phase's cost."""

    def __init__(self, settings: Settings, batch: int) -> None:
        self.settings = settings
        self.batch = batch
        self.offset = 0

    def message(self, body: dict[str, object]) -> Incoming:
        self.offset += 1
        user = str(body["user_id"])
        return Incoming("interactions", 0, self.offset, orjson.dumps(body), user.encode())

    async def run(self, name: str, updater: InterestUpdater, messages: list[Incoming]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(messages), self.batch):
            out = await updater.apply(messages[start : start + self.batch])
            assert not out.dead_letters, out.dead_letters[:1]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = len(messages)
        print(
            f"{name:<44} {1e6 * wall / n:8.1f} us/event wall {1e6 * cpu / n:8.1f} us/event CPU"
            f"  (social vectors computed so far: {updater.follows.refreshes})"
        )


async def measure(args: argparse.Namespace, url: str) -> None:
    prefix = "bench:"
    users = [f"u{n}" for n in range(args.users)]
    plant(url, prefix, args.items, users, args.dim)
    rng = np.random.default_rng(1)
    for refresh_s in (3600.0, 0.0):
        settings = Settings.from_env(
            {}, redis_url=url, redis_prefix=prefix, vector_size=args.dim, social_refresh_s=refresh_s
        )
        store = UserStateStore(outage_client(settings, 5.0), KeyLayout(prefix), args.dim, 3600, 200)
        updater = InterestUpdater(settings, store)
        await updater.start()
        phases = Phases(settings, args.batch)
        phases.offset = 10_000_000 * (1 + int(refresh_s == 0))

        def views(who: str, phases: Phases = phases) -> list[Incoming]:
            return [
                phases.message({"user_id": f"{who}{rng.integers(args.users)}", "type": "view",
                                "item_id": f"i{rng.integers(args.items)}", "ts": 1e9 + n})
                for n in range(args.events)
            ]  # fmt: skip

        if refresh_s:
            await phases.run("views, users following nobody", updater, views("p"))
            follows = [
                phases.message({"user_id": f"f{u}", "type": "follow", "ts": 1e9,
                                "target_user_id": f"u{rng.integers(args.users)}"})
                for _ in range(args.follows) for u in range(args.users)
            ]  # fmt: skip
            await phases.run(f"follow events ({args.follows} per user)", updater, follows)
            await phases.run("views, followers, social vector reused", updater, views("f"))
        else:
            await phases.run("views, followers, social recomputed per batch", updater, views("f"))
        if updater.trails is not None:
            await updater.trails.drain()
        await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--follows", type=int, default=20)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis_process = start_redis(Path(tmp))
        try:
            asyncio.run(measure(args, f"redis://127.0.0.1:{redis_process.port}/0"))
        finally:
            redis_process.stop()
    print(f"load {os.getloadavg()[0]:.1f} (1-min average)")


if __name__ == "__main__":
    main()
