"""The one place Redis clients are made: URL, ACL user, TLS files.

The ACL user and password travel in the URL (``rediss://user:pass@host:6380/0``);
the CA, client certificate and key are files. Every client of the service,
sync (trainer, read client) or asyncio (worker), is built here, so TLS and
credentials are applied the same way everywhere.

Redis Cluster is detected from the server, with no setting: a client made
for a URL whose server answers ``INFO cluster`` with ``cluster_enabled:1`` is
redis-py's cluster client (any node's URL will do; it discovers the others
and follows slot moves and failovers). See docs/redis-layout.md, "Redis
Cluster", for which commands span which keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster

log = logging.getLogger(__name__)

TLS_SCHEME = "rediss"
PROBE_TIMEOUT_S = 5.0

# What the service's clients are: one server (maybe with replicas) or a cluster.
SyncClient: TypeAlias = redis.Redis | RedisCluster
AsyncClient: TypeAlias = aioredis.Redis | AsyncRedisCluster


class RedisConnectionError(ValueError):
    """The Redis URL and TLS files do not make a usable, safe connection."""


class RedisConnectionSettings(Protocol):
    """What a client needs; the service's ``Settings`` has exactly these."""

    @property
    def redis_url(self) -> str: ...

    @property
    def redis_tls_ca(self) -> str: ...

    @property
    def redis_tls_cert(self) -> str: ...

    @property
    def redis_tls_key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RedisEndpoint:
    """For apps without the service's settings: the same four values.

    >>> RedisEndpoint("redis://127.0.0.1:6379/0").redis_tls_ca
    ''
    """

    redis_url: str
    redis_tls_ca: str = ""
    redis_tls_cert: str = ""
    redis_tls_key: str = ""


def client_options(settings: RedisConnectionSettings) -> dict[str, Any]:
    """The keyword arguments of redis-py's ``from_url`` for these settings.

    Refuses TLS files with a plain ``redis://`` URL: that would send
    credentials and user data in clear text although TLS was asked for.

    >>> client_options(RedisEndpoint("redis://h:6379/0"))
    {}
    """
    files = {
        "ssl_ca_certs": settings.redis_tls_ca,
        "ssl_certfile": settings.redis_tls_cert,
        "ssl_keyfile": settings.redis_tls_key,
    }
    given = {name: path for name, path in files.items() if path}
    if not given:
        return {}
    if urlsplit(settings.redis_url).scheme != TLS_SCHEME:
        raise RedisConnectionError("Redis TLS files are set, but the URL is not rediss://")
    if "ssl_keyfile" in given and "ssl_certfile" not in given:
        raise RedisConnectionError("a Redis TLS key needs its client certificate")
    for path in given.values():
        if not Path(path).is_file():
            raise RedisConnectionError(f"Redis TLS file {path} does not exist")
    return {**given, "ssl_cert_reqs": "required"}


def cluster_enabled(settings: RedisConnectionSettings, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the server at the URL is a Redis Cluster node (``INFO cluster``).

    A server that cannot be reached now is taken as a single server:
    the worker waits for Redis before it makes its clients, so it always asks
    a live one; a read client made while Redis is down stays single-server.
    """
    probe = redis.Redis.from_url(
        settings.redis_url,
        **client_options(settings),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=None,
    )
    try:
        info = probe.info("cluster")
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        log.debug(  # the caller's first command says what is wrong, once
            "could not ask %s whether it is a cluster (%s); using one server",
            redacted_url(settings.redis_url),
            exc,
        )
        return False
    finally:
        probe.close()
    return bool(int(info.get("cluster_enabled", 0)))


def sync_client(settings: RedisConnectionSettings, **extra: Any) -> SyncClient:
    """A redis-py client, a cluster client when the server is a cluster node;
    ``extra`` goes to ``from_url``. Commands connect lazily."""
    options = {**client_options(settings), **extra}
    if cluster_enabled(settings):
        return RedisCluster.from_url(settings.redis_url, **options)
    return redis.Redis.from_url(settings.redis_url, **options)


def async_client(settings: RedisConnectionSettings, **extra: Any) -> AsyncClient:
    """An asyncio redis-py client, a cluster client when the server is a cluster
    node; ``extra`` goes to ``from_url``. Commands connect lazily."""
    options = {**client_options(settings), **extra}
    if cluster_enabled(settings):
        return AsyncRedisCluster.from_url(settings.redis_url, **options)
    return aioredis.Redis.from_url(settings.redis_url, **options)


def redacted_url(url: str) -> str:
    """The URL with its password replaced, for logs and ``interests settings``.

    >>> redacted_url("rediss://svc:s3cret@redis:6380/0")
    'rediss://svc:***@redis:6380/0'
    >>> redacted_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def outage_client(settings: RedisConnectionSettings, timeout_s: float | None) -> AsyncClient:
    """An asyncio client whose commands fail after ``timeout_s`` instead of hanging.

    redis-py's own retries are off, so an outage shows at once and the caller
    (the worker's store) waits it out and retries the whole batch itself.
    """
    return async_client(
        settings,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
