"""``interests forget``: delete a user's state and tombstone their recommendations."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from state import InterestReader
from streams.settings import Settings


async def forget_user(settings: Settings, user_id: str) -> bool:
    """True when Redis held state; a null-valued message clears compacted topics."""
    reader = InterestReader.from_url(settings.redis_url, settings.redis_prefix)
    try:
        deleted = reader.forget(user_id)
    finally:
        reader.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic_recommendations, None, key=user_id.encode())
    finally:
        await producer.stop()
    return deleted
