"""A real Redis Cluster of ``redis-server`` processes on free loopback ports.

For the cluster integration tests and ``benchmarks/scale_out.py``: each node
runs with ``--cluster-enabled yes`` in its own directory, then
``redis-cli --cluster create`` assigns the 16384 slots (and replicas, when
asked), and the cluster is handed over once every node says
``cluster_state:ok``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from streams.devtools.embedded import (
    EmbeddedError,
    ManagedProcess,
    free_port,
    redis_server_binary,
    start_process,
)

REDIS_CLI_HINT = "redis-cli not found; install it with: sudo apt-get install redis-tools"


@dataclass
class EmbeddedCluster:
    """Running cluster nodes; ``url`` points at the first (any node would do)."""

    nodes: list[ManagedProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def node_client(self, port: int) -> redis.Redis:
        """A plain client of one node (for CLUSTER commands aimed at it)."""
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_node(
    workdir: Path, port: int | None = None, node_timeout_ms: int = 2000
) -> ManagedProcess:
    port = port or free_port()
    home = workdir / f"node-{port}"
    home.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(home),
        "--save",
        "",
        "--appendonly",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        str(home / "nodes.conf"),
        "--cluster-port",  # the bus port, else port + 10000, which may be taken or too high
        str(free_port()),
        "--cluster-node-timeout",
        str(node_timeout_ms),
        "--daemonize",
        "no",
        "--logfile",
        str(home / "redis.log"),
    ]
    return start_process(f"redis-cluster-{port}", argv, port, home / "stdout.log")


def wait_cluster_ok(ports: list[int], timeout_s: float = 30.0) -> None:
    """Until every node reports ``cluster_state:ok`` (slots covered, config agreed)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = []
        for port in ports:
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
                try:
                    info = client.cluster("info")
                finally:
                    client.close()
                states.append(str(info.get("cluster_state")))
        if len(states) == len(ports) and all(s == "ok" for s in states):
            return
        time.sleep(0.2)
    raise EmbeddedError(f"Redis Cluster on ports {ports} not ok within {timeout_s:.0f}s")


@contextlib.contextmanager
def embedded_cluster(
    workdir: Path, primaries: int = 3, replicas: int = 0
) -> Iterator[EmbeddedCluster]:
    """``primaries`` × (1 + ``replicas``) nodes for the block, then nothing left."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise EmbeddedError(REDIS_CLI_HINT)
    cluster = EmbeddedCluster()
    try:
        for _ in range(primaries * (1 + replicas)):
            cluster.nodes.append(start_node(workdir))
        addresses = [f"127.0.0.1:{n.port}" for n in cluster.nodes]
        created = subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            raise EmbeddedError(f"redis-cli --cluster create failed: {created.stdout[-2000:]!r}")
        wait_cluster_ok([n.port for n in cluster.nodes])
        yield cluster
    finally:
        cluster.stop()


def fail_over(cluster: EmbeddedCluster, timeout_s: float = 30.0) -> list[int]:
    """``CLUSTER FAILOVER`` on every replica (one per primary): each takes over its
    primary's slots, coordinated, losing no acknowledged write. Returns the
    ports of the new primaries once each says so."""
    replicas = []
    for node in cluster.nodes:
        client = cluster.node_client(node.port)
        try:
            if client.info("replication").get("role") == "slave":
                replicas.append(node.port)
        finally:
            client.close()
    deadline = time.monotonic() + timeout_s
    for port in replicas:
        client = cluster.node_client(port)
        try:
            while client.info("replication").get("master_link_status") != "up":
                if time.monotonic() > deadline:
                    raise EmbeddedError(f"replica {port} never synced with its primary")
                time.sleep(0.1)
            client.execute_command("CLUSTER", "FAILOVER")  # type: ignore[no-untyped-call]
            while client.info("replication").get("role") != "master":
                if time.monotonic() > deadline:
                    raise EmbeddedError(f"replica {port} did not take over")
                time.sleep(0.1)
        finally:
            client.close()
    wait_cluster_ok([n.port for n in cluster.nodes], timeout_s)
    return replicas
