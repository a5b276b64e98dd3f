"""Output topics are compacted, so a forget tombstone erases a user's messages."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.devtools.embedded import EmbeddedServices
from streams.forget import forget_user
from streams.settings import Settings
from tests.support.harness import isolated_settings, read_topic

pytestmark = pytest.mark.slow


def cleanup_policies(settings: Settings, topics: list[str]) -> dict[str, str]:
    async def run() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
            policies: dict[str, str] = {}
            for response in await admin.describe_configs(resources):
                for resource in response.resources:
                    name, entries = resource[3], resource[4]
                    values = {entry[0]: entry[1] for entry in entries}
                    policies[name] = values.get("cleanup.policy", "delete")
            return policies
        finally:
            await admin.close()

    return asyncio.run(run())


def test_keyed_output_topics_are_created_compacted(services: EmbeddedServices) -> None:
    settings = isolated_settings(services)
    policies = cleanup_policies(
        settings,
        [
            settings.topic_recommendations,
            settings.topic_interest_shifts,
            settings.topic_items,
            settings.topic_interactions,
            settings.topic_dlq,
        ],
    )
    assert policies[settings.topic_recommendations] == "compact"
    assert policies[settings.topic_interest_shifts] == "compact"
    assert policies[settings.topic_items] == "compact"
    # Input and dead letters keep every message: compaction would lose events.
    assert policies[settings.topic_interactions] == "delete"
    assert policies[settings.topic_dlq] == "delete"


def test_forget_tombstones_the_user_on_both_output_topics(services: EmbeddedServices) -> None:
    settings = isolated_settings(services)
    asyncio.run(forget_user(settings, "u-gone"))
    for topic in (settings.topic_recommendations, settings.topic_interest_shifts):
        messages = read_topic(settings, topic, expect=1, timeout=20.0)
        assert messages == [(b"u-gone", None)], topic
