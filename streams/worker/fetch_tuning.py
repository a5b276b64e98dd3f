"""Bounds how long the worker's Kafka fetches may wait at the broker.

faust hard-codes ``fetch_max_wait_ms=1500``. Apache Kafka answers a fetch as
soon as data arrives, but the embedded Tansu broker holds it for a good part
of that wait under a steady stream, which showed as ~0.5 s of event latency.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka


class _BoundedFetchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms = 1500

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by aiokafka when the consumer starts and builds its fetcher.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


def bound_fetch_wait(max_wait_ms: int) -> None:
    """Make every faust consumer in this process use ``max_wait_ms``."""
    _BoundedFetchConsumerThread.fetch_max_wait_ms = max_wait_ms

    def new_thread(self: faust_aiokafka.Consumer) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _BoundedFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    faust_aiokafka.Consumer._new_consumer_thread = new_thread  # type: ignore[method-assign]
