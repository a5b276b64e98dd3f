"""Before the worker starts: is Redis there, is the broker there? Name what is not, and wait.

A worker started before its Redis or broker (a compose file starting
everything at once) should neither exit nor bury the cause in tracebacks:
it says in one line which one it cannot reach, and waits until it can.
SIGTERM and Ctrl-C stop the wait at once.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from state.connection import async_client, redacted_url
from streams.settings import Settings


async def redis_answers(settings: Settings, timeout_s: float) -> None:
    """PING through the same client options as the store (URL, ACL user, TLS)."""
    client = async_client(settings, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _broker_ok(bootstrap: str, timeout_s: float) -> None:
    host, _, port = bootstrap.rpartition(":")
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
    writer.close()


async def _wait_for(what: str, check: Callable[[], Awaitable[None]], retry_max_s: float) -> None:
    delay, named = 0.2, False
    while True:
        try:
            await check()
        except Exception as exc:  # any failure to reach it: say so once, keep trying
            if not named:
                print(
                    f"interests worker: {what} is unreachable ({exc}); waiting for it",
                    file=sys.stderr,
                    flush=True,
                )
                named = True
            await asyncio.sleep(delay)
            delay = min(retry_max_s, delay * 2)
            continue
        if named:
            print(f"interests worker: {what} is reachable now", file=sys.stderr, flush=True)
        return


async def wait_for_services(settings: Settings) -> None:
    """Return once Redis answers PING and the broker accepts a connection."""
    timeout = settings.redis_timeout_s
    await _wait_for(
        f"Redis at {redacted_url(settings.redis_url)}",
        lambda: redis_answers(settings, timeout),
        settings.redis_retry_max_s,
    )
    await _wait_for(
        f"the Kafka broker at {settings.kafka_bootstrap}",
        lambda: _broker_ok(settings.kafka_bootstrap, timeout),
        settings.redis_retry_max_s,
    )
