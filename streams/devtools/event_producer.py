"""Produces interaction events to Kafka at a steady rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType

from aiokafka import AIOKafkaProducer

from streams.security import kafka_client_options
from streams.settings import Settings

OnSent = Callable[[bytes, bytes], None]


class Pacer:
    """Spaces calls to ``rate`` per second on average (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next_at = time.monotonic()

    async def wait(self) -> None:
        if not self.interval:
            return
        self.next_at += self.interval
        delay = self.next_at - time.monotonic()
        if delay > 0.002:
            await asyncio.sleep(delay)


class EventProducer:
    """An aiokafka producer for one topic; use ``async with``."""

    def __init__(self, settings: Settings, topic: str | None = None, linger_ms: int = 5) -> None:
        """``linger_ms``: how long a send may wait to share a request with later ones
        (0 where every event's latency counts, as the bench's paced phase)."""
        self.topic = topic or settings.topic_interactions
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            linger_ms=linger_ms,
            acks=1,
            max_batch_size=256 * 1024,
            **kafka_client_options(settings),
        )

    async def __aenter__(self) -> EventProducer:
        await self.producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.producer.stop()

    async def send_all(
        self,
        messages: Iterable[tuple[bytes, bytes]] | AsyncIterator[tuple[bytes, bytes]],
        rate: float | None = None,
        on_sent: OnSent | None = None,
    ) -> int:
        """Send (key, value) pairs, paced; wait until the broker has them all.

        A message is drawn only when its turn comes: a generator that stamps
        its events (``ts``, the latency tracker's send time) stamps them when
        they are sent, not before the pacer's wait."""
        pacer = Pacer(rate)
        pending: list[asyncio.Future[object]] = []
        count = 0
        source = _aiter(messages)
        while True:
            await pacer.wait()
            try:
                key, value = await anext(source)
            except StopAsyncIteration:
                break
            pending.append(await self.producer.send(self.topic, value, key=key))
            if on_sent is not None:
                on_sent(key, value)
            count += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return count


async def _aiter(
    messages: Iterable[tuple[bytes, bytes]] | AsyncIterator[tuple[bytes, bytes]],
) -> AsyncIterator[tuple[bytes, bytes]]:
    if isinstance(messages, AsyncIterator):
        async for m in messages:
            yield m
    else:
        for m in messages:
            yield m
            await asyncio.sleep(0)
