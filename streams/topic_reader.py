"""Counts what a topic holds, for summaries and benchmarks."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.settings import Settings


async def count_messages(settings: Settings, topic: str) -> int:
    """Messages currently in ``topic`` (end offset minus start offset)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
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
