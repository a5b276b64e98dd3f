"""Batch scripts on Redis Cluster: one script call per hash slot, pipelined.

The batch scripts (``read_users.lua``, ``apply_user.lua``,
``publish_long_term.lua``) take many users' keys at once. On one server that
is one call; on a cluster a script may only touch keys of one slot, so the
users are grouped by the slot of their hash tag and each group is one call,
all of them queued on redis-py's cluster pipeline, which sends each node its
calls in one round trip (nodes in parallel). Results come back in the
callers' order. On a single server nothing here is used.

redis-py's cluster pipeline refuses its ``evalsha`` method, but routes a raw
``EVALSHA`` by its keys like any keyed command; that is what ``queue`` sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.crc import key_slot


async def load_everywhere(client: Any, script: str) -> None:
    """``SCRIPT LOAD`` on every node, replicas included: a replica promoted by a
    failover then has the scripts already (Redis does not replicate the cache)."""
    await client.execute_command("SCRIPT LOAD", script, target_nodes=AsyncRedisCluster.ALL_NODES)


def load_everywhere_sync(client: Any, script: str) -> None:
    """:func:`load_everywhere` for the sync client (the trainer's registry)."""
    client.execute_command("SCRIPT LOAD", script, target_nodes=RedisCluster.ALL_NODES)


def is_cluster(client: object) -> bool:
    """True for redis-py's cluster clients (sync or asyncio)."""
    return isinstance(client, (RedisCluster, AsyncRedisCluster))


def slot_of(key: str | bytes) -> int:
    """The cluster slot of a key (CRC16 of its hash tag, as Redis computes it).

    >>> slot_of("ie:user:{u1}") == slot_of("ie:user:{u1}:history")
    True
    """
    return int(key_slot(key.encode() if isinstance(key, str) else key))


@dataclass(frozen=True, slots=True)
class SlotGroups:
    """Users (by index) grouped by the slot of their keys, in first-seen order."""

    groups: list[list[int]]
    users: int

    @classmethod
    def of(cls, keys: Sequence[str], per_user: int) -> SlotGroups:
        """``keys`` are ``per_user`` keys per user, all of one user in one slot."""
        by_slot: dict[int, list[int]] = {}
        users = len(keys) // per_user
        for u in range(users):
            by_slot.setdefault(slot_of(keys[u * per_user]), []).append(u)
        return cls(list(by_slot.values()), users)

    def queue(
        self,
        pipe: Any,
        sha: str,
        keys: Sequence[str],
        per_user: int,
        args: Sequence[Any] = (),
        user_args: Sequence[Any] | None = None,
        args_per_user: int = 1,
    ) -> int:
        """One ``EVALSHA`` per group on ``pipe``: the group's keys, then ``args``, then
        the group's ``user_args`` (``args_per_user`` each). Returns the calls queued."""
        for group in self.groups:
            group_keys = [k for u in group for k in keys[u * per_user : (u + 1) * per_user]]
            extra: list[Any] = []
            if user_args is not None:
                for u in group:
                    extra += user_args[u * args_per_user : (u + 1) * args_per_user]
            pipe.execute_command("EVALSHA", sha, len(group_keys), *group_keys, *args, *extra)
        return len(self.groups)

    def spread(self, results: Sequence[Any]) -> list[Any]:
        """Per user, in the callers' order: its item of its group's reply (a list),
        or the group's error (an exception) when the call failed."""
        out: list[Any] = [None] * self.users
        for group, result in zip(self.groups, results, strict=True):
            for i, u in enumerate(group):
                out[u] = result if isinstance(result, BaseException) else result[i]
        return out

    def sum(self, results: Sequence[Any]) -> int:
        """The groups' integer replies added (scripts that return a count)."""
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return sum(int(r) for r in results)
