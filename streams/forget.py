"""``interests forget``: delete a user's state and tombstone their output messages."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from streams.read_side import open_reader
from streams.settings import Settings


async def forget_user(settings: Settings, user_id: str) -> bool:
    """True when Redis held state.

    Redis first: the user's keys go and an erasure fence stays for
    ``erasure_fence_s`` (see :meth:`state.InterestReader.forget`), so neither a
    worker batch in flight nor the trainer's next publish writes the user back.

    A null value keyed by the user goes to ``recommendations`` and
    ``interest-shifts``; both are compacted (see :mod:`streams.topics`), so the
    broker drops the user's earlier messages there.
    """
    reader = open_reader(settings)
    try:
        deleted = reader.forget(user_id, settings.erasure_fence_s)
    finally:
        reader.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for topic in (settings.topic_recommendations, settings.topic_interest_shifts):
            await producer.send_and_wait(topic, None, key=user_id.encode())
    finally:
        await producer.stop()
    return deleted
