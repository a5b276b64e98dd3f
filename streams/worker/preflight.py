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
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis

from streams.settings import Settings


def _shown(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def _redis_ok(url: str, timeout_s: float) -> None:
    client = aioredis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
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
        f"Redis at {_shown(settings.redis_url)}",
        lambda: _redis_ok(settings.redis_url, timeout),
        settings.redis_retry_max_s,
    )
    await _wait_for(
        f"the Kafka broker at {settings.kafka_bootstrap}",
        lambda: _broker_ok(settings.kafka_bootstrap, timeout),
        settings.redis_retry_max_s,
    )
