"""Topic epochs: which incarnation of a topic a user's offset stamp belongs to.

A user's stamp (``last_topic``, ``last_partition``, ``last_offset``) makes
replays idempotent, but offsets only order the events of one incarnation of
a topic: deleted and created again (the embedded broker's restart, a Kafka
without a volume under a Redis that kept its AOF), a topic starts again at
offset 0 and every new event would look like a replay. The broker gives each
incarnation an id; Redis keeps, per topic, the last id seen and an epoch
count that grows by one with each new id (``topic_epoch.lua``, atomic, so
workers that notice at once agree). The stamp's topic is the topic's name in
epoch 0 (stamps written before epochs existed stay valid) and
``<name>@<epoch>`` after, so an event of a new incarnation never matches a
stamp of an older one and is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

import redis.exceptions as rex

from state.connection import AsyncClient, SyncClient
from state.errors import StoreUnavailable, is_outage
from state.keys import KeyLayout

EPOCH_SCRIPT = resources.files("state").joinpath("topic_epoch.lua").read_text()


def epoch_key(keys: KeyLayout, topic: str) -> str:
    """The topic's epoch record (a hash: ``id``, ``epoch``)."""
    return f"{keys.prefix}topic-epoch:{topic}"


def unstamped(stamp: str) -> str:
    """The topic a stamp names (Kafka topic names never hold ``@``).

    >>> unstamped("interactions@3"), unstamped("interactions")
    ('interactions', 'interactions')
    """
    return stamp.partition("@")[0]


def stamped(topic: str, epoch: int) -> str:
    """The topic as a user's stamp names it in ``epoch``.

    >>> stamped("interactions", 0), stamped("interactions", 2)
    ('interactions', 'interactions@2')
    """
    return topic if epoch <= 0 else f"{topic}@{epoch}"


class TopicEpochs:
    """The worker's view of the epochs of the topics it consumes (cached between checks)."""

    def __init__(self, client: AsyncClient, keys: KeyLayout) -> None:
        self.client = client
        self.keys = keys
        self.epochs: dict[str, int] = {}
        self._script = client.register_script(EPOCH_SCRIPT)

    def stamp(self, topic: str) -> str:
        """``topic`` as stamps of its current epoch name it (epoch 0 until observed)."""
        return stamped(topic, self.epochs.get(topic, 0))

    async def observe(self, topic_ids: Mapping[str, str]) -> bool:
        """Record the broker's current id of each topic; True when an epoch changed
        since the last call (a topic was recreated, or another worker saw it first).
        The first call only learns the epochs: nothing was stamped before it."""
        changed = False
        for topic, topic_id in topic_ids.items():
            try:
                raw = await self._script(keys=[epoch_key(self.keys, topic)], args=[topic_id])
            except rex.RedisError as exc:
                if is_outage(exc):
                    raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
                raise
            except OSError as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
            epoch = int(raw)
            changed |= topic in self.epochs and self.epochs[topic] != epoch
            self.epochs[topic] = epoch
        return changed


def current_stamp(client: SyncClient, keys: KeyLayout, topic: str) -> str:
    """``topic`` as the stamps of its latest recorded epoch name it (for ``forget``'s fence)."""
    raw = client.hget(epoch_key(keys, topic), "epoch")
    return stamped(topic, int(raw) if isinstance(raw, bytes | str) and raw else 0)
