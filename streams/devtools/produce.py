"""``interests produce``: the synthetic drifting-users stream, stamped with wall time."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator

from streams.devtools.event_producer import EventProducer
from streams.devtools.synthetic import DriftConfig, DriftingUsers
from streams.settings import Settings
from streams.topics import ensure_topics


def live_messages(users: int, seed: int, count: int | None) -> Iterator[tuple[bytes, bytes]]:
    """Synthetic events as (key, value), each dated when it is produced."""
    stream = DriftingUsers(DriftConfig(users=users, seed=seed))
    for synthetic in itertools.islice(stream, count):
        event = dataclasses.replace(synthetic.event, ts=round(time.time(), 3))
        yield event.user_id.encode(), event.to_json()


async def produce_synthetic(settings: Settings, count: int | None, rate: float, users: int) -> int:
    await ensure_topics(settings)
    async with EventProducer(settings) as producer:
        return await producer.send_all(live_messages(users, settings.seed, count), rate)
