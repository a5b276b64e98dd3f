"""Creates the service's topics before anything produces to them."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.security import kafka_client_options
from streams.settings import Settings


def compacted_topics(settings: Settings) -> set[str]:
    """Topics keyed by an id whose latest value is what counts.

    Compaction is what makes a ``forget`` tombstone (a null value) remove a
    user's earlier messages from ``recommendations`` and ``interest-shifts``.
    """
    return {
        settings.topic_items,
        settings.topic_recommendations,
        settings.topic_interest_shifts,
    }


def service_topics(settings: Settings) -> list[str]:
    return [
        settings.topic_interactions,
        settings.topic_dlq,
        settings.topic_items,
        settings.topic_recommendations,
        settings.topic_model_updates,
        settings.topic_interest_shifts,
    ]


async def ensure_topics(settings: Settings, names: list[str] | None = None) -> None:
    """Create missing topics with the configured partition count."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_client_options(settings)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in (names or service_topics(settings)) if n not in existing]
        compacted = compacted_topics(settings)
        for name in wanted:
            config = {"cleanup.policy": "compact"} if name in compacted else {}
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(name, settings.topic_partitions, 1, topic_configs=config)]
                )
    finally:
        await admin.close()
