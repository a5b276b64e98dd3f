"""Latency of re-ranking 100 candidates for one user against a local redis-server.

Starts its own ``redis-server``, publishes a model of ``--items`` random item
vectors, writes ``--users`` users (short-term and long-term vectors, recent
items), then times :meth:`state.InterestReader.rerank` (two round trips and the
math) and ``POST /rerank`` through the worker's HTTP server, each over
``--requests`` requests of ``--candidates`` random items (5% unknown).

    PYTHONPATH=. .venv/bin/python benchmarks/rerank_latency.py
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from wsgiref.simple_server import make_server

import numpy as np
import orjson

from benchmarks.model_math import random_stepper
from state import InterestReader, KeyLayout
from state.codec import encode_vector
from state.connection import RedisEndpoint, sync_client
from state.keys import Field
from streams.devtools.embedded import free_port, start_redis
from streams.worker.rerank_http import _QuietHandler, _ThreadingServer, rerank_app


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {ms.max():.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        redis_process = start_redis(Path(tmp))
        try:
            url = f"redis://127.0.0.1:{redis_process.port}/0"
            client = sync_client(RedisEndpoint(url))
            keys = KeyLayout("bench:")
            ids = [f"i{n}" for n in range(args.items)]
            vectors = rng.standard_normal((args.items, args.dim)).astype(np.float32)
            for start in range(0, args.items, 5000):
                client.hset(
                    keys.items("v1"),
                    mapping={
                        i: encode_vector(v)
                        for i, v in zip(
                            ids[start : start + 5000], vectors[start : start + 5000], strict=True
                        )
                    },
                )
            client.set(keys.model_version(), "v1")
            # The version's GRU step: a re-rank reads each user's stepped state out with it.
            stepper = random_stepper(args.dim, args.dim, seed=0)
            client.set(keys.gru_step("v1"), stepper.to_bytes())
            state_size = stepper.rows * stepper.hidden
            for u in range(args.users):
                recent = [ids[r] for r in rng.integers(args.items, size=50)]
                client.hset(
                    keys.user(f"u{u}"),
                    mapping={
                        Field.SHORT_TERM: encode_vector(
                            rng.standard_normal(args.dim).astype(np.float32)
                        ),
                        Field.LONG_TERM: encode_vector(
                            rng.standard_normal(args.dim).astype(np.float32)
                        ),
                        Field.LONG_TERM_VERSION: "v1",
                        Field.LONG_TERM_STATE: encode_vector(
                            rng.standard_normal(state_size).astype(np.float32)
                        ),
                        Field.LONG_TERM_STATE_VERSION: "v1",
                        Field.MODEL_VERSION: "v1",
                        Field.MIX_WEIGHT: "0.6",
                        Field.RECENT_ITEMS: orjson.dumps(recent),
                    },
                )
            reader = InterestReader(client, keys)

            def request() -> tuple[str, list[str]]:
                picked = [ids[r] for r in rng.integers(args.items, size=args.candidates)]
                unknown = max(1, args.candidates // 20)
                return f"u{rng.integers(args.users)}", picked[:-unknown] + [
                    f"new{n}" for n in range(unknown)
                ]

            for _ in range(100):
                reader.rerank(*request())  # warm
            times = []
            for _ in range(args.requests):
                user, items = request()
                t = time.perf_counter()
                reader.rerank(user, items)
                times.append(time.perf_counter() - t)
            k = args.candidates
            print(f"read client, {k} candidates, {args.items} items: {percentiles(times)}")

            port = free_port()
            server = make_server(
                "127.0.0.1",
                port,
                rerank_app(reader),
                server_class=_ThreadingServer,
                handler_class=_QuietHandler,
            )
            threading.Thread(target=server.serve_forever, daemon=True).start()
            times = []
            for n in range(args.requests + 100):
                user, items = request()
                body = orjson.dumps({"user_id": user, "items": items})
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/rerank", data=body, method="POST"
                )
                t = time.perf_counter()
                with urllib.request.urlopen(req) as response:
                    response.read()
                if n >= 100:
                    times.append(time.perf_counter() - t)
            server.shutdown()
            print(f"POST /rerank (urllib, a connection each), {k} candidates: {percentiles(times)}")
        finally:
            redis_process.stop()


if __name__ == "__main__":
    main()
