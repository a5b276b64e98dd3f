"""Counts what a topic holds, for summaries and benchmarks."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.security import kafka_client_options
from streams.settings import Settings


def recommendations_reader(settings: Settings) -> AIOKafkaConsumer:
    """A group-less consumer of the recommendations topic, from its start."""
    return AIOKafkaConsumer(
        settings.topic_recommendations,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        **kafka_client_options(settings),
    )


async def count_messages(settings: Settings, topic: str) -> int:
    """Messages currently in ``topic`` (end offset minus start offset)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, **kafka_client_options(settings)
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            await consumer.topics()
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
            ]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()
