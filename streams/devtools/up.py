"""``interests up``: a broker and a redis-server to try the other commands by hand.

Runs in the foreground until Ctrl-C (or SIGTERM), then stops both; nothing is
left behind. What it prints is the environment the other commands need, so
``interests worker``, ``replay``, ``user`` and ``forget`` can be tried without
Docker: paste the ``export`` lines into another shell.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TextIO

from streams.devtools.embedded import EmbeddedServices, embedded_services
from streams.settings import Settings
from streams.topics import ensure_topics


def service_env(settings: Settings, services: EmbeddedServices) -> dict[str, str]:
    """The ``INTERESTS_*`` variables that point the service at these servers."""
    env = settings.replace(
        kafka_bootstrap=services.kafka_bootstrap, redis_url=services.redis_url
    ).as_env()
    names = ("INTERESTS_KAFKA_BOOTSTRAP", "INTERESTS_REDIS_URL")
    return {name: env[name] for name in names}


def run_up(
    settings: Settings,
    workdir: Path | None = None,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> int:
    """Serve until ``stop`` is set, SIGINT or SIGTERM; 0 on a clean stop."""
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with embedded_services(workdir) as services:
            env = service_env(settings, services)
            asyncio.run(ensure_topics(settings.replace(kafka_bootstrap=services.kafka_bootstrap)))
            print("# broker and redis-server are up; in another shell:", file=out)
            for name, value in env.items():
                print(f"export {name}={value}", file=out)
            print(f"# logs in {services.workdir}; Ctrl-C stops both", file=out, flush=True)
            while not stop.wait(0.2):
                for process in (services.broker, services.redis):
                    if process.process.poll() is not None:
                        print(f"# {process.name} exited; stopping", file=out, flush=True)
                        return 1
        print("# stopped", file=out, flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(run_up(Settings.from_env()))
