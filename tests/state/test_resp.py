"""The store's RESP packer writes exactly the bytes redis-py's would."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from state.resp import FastPackMixin, fast_packing


class _Fast(FastPackMixin, Connection):
    pass


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", "a" * 40, 2, "ie:user:u1", b"ie:erasure:u1", b"\x00\xff" * 5000, "é"),
        ("SCRIPT LOAD", "return 1"),
        (b"CONFIG GET", b"maxmemory"),
        ("INCRBYFLOAT", "k", 0.125),
        ("SET", "k", memoryview(b"value"), bytearray(b"more")),
        ("HSET", "h", "f", ""),
    ],
)
def test_same_bytes_as_redis_py(args: tuple[object, ...]) -> None:
    ours, theirs = _Fast(), Connection()
    assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))
    commands = [args, ("PING",), args]
    assert b"".join(ours.pack_commands(commands)) == b"".join(theirs.pack_commands(commands))


def test_refuses_what_redis_py_refuses() -> None:
    with pytest.raises(DataError):
        _Fast().pack_command("SET", "k", True)


def test_installed_once_on_a_client_pool() -> None:
    client = aioredis.Redis()
    fast_packing(fast_packing(client))
    made = client.connection_pool.connection_class
    assert issubclass(made, FastPackMixin) and issubclass(made, Connection)
    assert made.__mro__.count(FastPackMixin) == 1
