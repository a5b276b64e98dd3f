"""``interests up`` serves a usable broker and redis-server until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient

pytestmark = pytest.mark.slow


def read_exports(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    exports: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value
        if "Ctrl-C" in line:
            return exports
    raise AssertionError(f"no ready line; got {exports}")


async def topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


def test_up_prints_working_exports_and_stops_on_ctrl_c() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERESTS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli.main", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        exports = read_exports(process, timeout=60)
        client = redis.Redis.from_url(exports["INTERESTS_REDIS_URL"])
        assert client.ping()
        client.close()
        bootstrap = exports["INTERESTS_KAFKA_BOOTSTRAP"]
        assert "interactions" in asyncio.run(topics(bootstrap))
        ports = [
            int(bootstrap.rpartition(":")[2]),
            client.connection_pool.connection_kwargs["port"],
        ]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        assert not any(port_open(p) for p in ports), "a server outlived interests up"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
