"""``interests forget``: delete a user's state and tombstone their output messages."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from state.epoch import current_stamp
from state.erasure import ErasureFence
from streams.read_side import open_reader
from streams.security import kafka_client_options
from streams.settings import Settings


async def forget_user(settings: Settings, user_id: str) -> bool:
    """True when Redis held state.

    Redis first: the user's keys go and an erasure fence stays for
    ``erasure_fence_s`` (see :mod:`state.erasure`), holding the events topic's
    end offsets now: events of the user already in the log are never applied
    (in flight, not yet consumed, or replayed), later ones start a new user,
    and the trainer's next publish does not write the user back.

    A null value keyed by the user goes to ``recommendations`` and
    ``interest-shifts``; both are compacted (see :mod:`streams.topics`), so the
    broker drops the user's earlier messages there.
    """
    reader = open_reader(settings)
    try:
        # The fence names the topic as stamps of its current epoch do (state.epoch).
        topic = current_stamp(reader.client, reader.keys, settings.topic_interactions)
        fence = ErasureFence.new(topic, await _log_ends(settings))
        deleted = reader.forget(user_id, settings.erasure_fence_s, fence)
        published_as = reader.pseudonym(user_id)  # the outputs' key, when ids are pseudonymised
    finally:
        reader.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **kafka_client_options(settings)
    )
    await producer.start()
    try:
        for topic in (settings.topic_recommendations, settings.topic_interest_shifts):
            await producer.send_and_wait(topic, None, key=published_as.encode())
    finally:
        await producer.stop()
    return deleted


async def _log_ends(settings: Settings) -> dict[int, int]:
    """Per partition of the events topic, its end offset (none when it does not exist).

    The listed end offset is taken, then checked against the high watermark of
    a fetch from just before it: the embedded broker lists the offset after
    the first record of the last batch, not after the last record.
    """
    topic = settings.topic_interactions
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        **kafka_client_options(settings),
    )
    await consumer.start()
    try:
        await consumer.topics()  # fetches metadata
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return {}
        ends = {tp: int(offset) for tp, offset in (await consumer.end_offsets(partitions)).items()}
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, max(ends[tp] - 1, 0))
        # One fetch round: the broker's wait, and as long again for the round trip.
        fetched = await consumer.getmany(timeout_ms=2 * settings.fetch_max_wait_ms)
        for tp in partitions:
            seen = [record.offset + 1 for record in fetched.get(tp, [])]
            ends[tp] = max(ends[tp], consumer.highwater(tp) or 0, *seen)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
