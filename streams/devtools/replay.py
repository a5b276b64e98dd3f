"""``interests replay FILE``: stream an interaction log into the topic, in time order."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from streams.devtools.datasets import Interaction, read_interactions
from streams.devtools.event_producer import EventProducer
from streams.settings import Settings
from streams.topics import ensure_topics
from streams.worker.events import Event


def event_type(interaction: Interaction, types: set[str]) -> str:
    """Ratings of 4 and 5 are likes where that type exists; anything else a view."""
    if interaction.rating is not None and interaction.rating >= 4 and "like" in types:
        return "like"
    return "view" if "view" in types else sorted(types)[0]


def replay_messages(
    interactions: list[Interaction], types: set[str]
) -> Iterator[tuple[bytes, bytes]]:
    for number, x in enumerate(interactions):
        event = Event(x.user_id, x.item_id, event_type(x, types), x.ts, f"replay-{number}")
        yield x.user_id.encode(), event.to_json()


async def replay_file(
    settings: Settings, file: str, fmt: str, rate: float | None, limit: int | None
) -> int:
    interactions = read_interactions(Path(file), fmt, seed=settings.seed)
    if limit is not None:
        interactions = interactions[:limit]
    await ensure_topics(settings)
    messages = replay_messages(interactions, set(settings.event_weights))
    with tqdm(total=len(interactions), unit="ev", desc=f"replay {Path(file).name}") as bar:
        async with EventProducer(settings) as producer:
            return await producer.send_all(
                itertools.islice(messages, None), rate, on_sent=lambda _k, _v: bar.update()
            )
