"""Produces a batch's outputs (recommendations, shifts, dead letters), never stalling.

Messages are packed into one record batch per topic partition (aiokafka's
``create_batch``/``send_batch``), not sent one future at a time: a batch has
hundreds of outputs and per-message sends cost more than the batch's math.
A send that fails with a retriable error (broker away, leader moving, timeout)
is retried with capped backoff until it is accepted; one that can never be
accepted (too large, not authorised) is logged with its topic and count and
dropped, so one message can never stop the stream. Nothing raises out of
:meth:`Outputs.send` except cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner

log = logging.getLogger(__name__)

Message = tuple[bytes | None, bytes]
PARTITION_CACHE_SIZE = 100_000
"""Keys whose partition is remembered (murmur2 in pure Python costs more than the send)."""


def is_retriable(error: BaseException) -> bool:
    """True when sending the same batch again can succeed."""
    if isinstance(error, KafkaTimeoutError | KafkaConnectionError):
        return True
    return isinstance(error, KafkaError) and bool(getattr(error, "retriable", False))


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    dropped: int = 0
    retries: int = 0


class Outputs:
    """One producer for every output topic of a worker."""

    def __init__(
        self,
        bootstrap: str,
        retry_max_s: float,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_options = dict(client_options or {})  # security: streams.security
        self._producer: AIOKafkaProducer | None = None
        self.retry_max_s = retry_max_s
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        self._key_partition: dict[tuple[str, bytes], int] = {}

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("Outputs.start() was not called")
        return self._producer

    async def start(self) -> None:
        """Connect (aiokafka wants its producer made inside the running loop)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks=1,
            linger_ms=0,
            enable_idempotence=False,  # the embedded broker refuses InitProducerId
            **self.client_options,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, by_topic: Sequence[tuple[str, Sequence[Message]]]) -> SendReport:
        """Send every message and wait until the broker accepted each (or it was dropped)."""
        report = SendReport()
        chunks: list[tuple[str, int, list[Message]]] = []
        for topic, messages in by_topic:
            if not messages:
                continue
            partitions = await self._partitions_of(topic, report)
            grouped: dict[int, list[Message]] = defaultdict(list)
            for message in messages:
                grouped[self._partition(topic, message[0], partitions)].append(message)
            chunks += [(topic, p, ms) for p, ms in grouped.items()]
        await asyncio.gather(*(self._send_chunk(t, p, ms, report) for t, p, ms in chunks))
        return report

    async def _partitions_of(self, topic: str, report: SendReport) -> list[int]:
        known = self._partitions.get(topic)
        if known:
            return known
        delay = 0.05
        while True:
            try:
                found = await self.producer.partitions_for(topic)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("no metadata for topic %s yet (%s); retrying", topic, exc)
                found = set()
            if found:
                self._partitions[topic] = sorted(found)
                return self._partitions[topic]
            report.retries += 1
            delay = await self._backoff(delay)

    def _partition(self, topic: str, key: bytes | None, partitions: list[int]) -> int:
        if key is None:
            return random.choice(partitions)
        cached = self._key_partition.get((topic, key))
        if cached is None:
            if len(self._key_partition) >= PARTITION_CACHE_SIZE:
                self._key_partition.clear()
            cached = self._partitioner(key, partitions, partitions)
            self._key_partition[(topic, key)] = cached
        return cached

    async def _send_chunk(
        self, topic: str, partition: int, messages: list[Message], report: SendReport
    ) -> None:
        start = 0
        while start < len(messages):
            delay = 0.05
            while True:  # a batch is built afresh for every attempt
                batch = self.producer.create_batch()
                end = start
                while end < len(messages):
                    key, value = messages[end]
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        break
                    end += 1
                end = max(end, start + 1)  # an empty batch takes any one message
                batch.close()
                try:
                    future = await self.producer.send_batch(batch, topic, partition=partition)
                    await future
                    report.sent += end - start
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not is_retriable(exc):
                        log.error(
                            "dropping %d message(s) to %s[%d] that the broker will never take: %r",
                            end - start,
                            topic,
                            partition,
                            exc,
                        )
                        report.dropped += end - start
                        break
                    report.retries += 1
                    log.warning("send to %s[%d] failed (%r); retrying", topic, partition, exc)
                    delay = await self._backoff(delay)
            start = end

    async def _backoff(self, delay: float) -> float:
        await asyncio.sleep(delay * (0.5 + random.random() / 2))
        return min(self.retry_max_s, delay * 2)
