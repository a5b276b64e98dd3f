"""The faust app: one agent that applies interaction batches.

No error escapes the agent: faust would ack the message and never see it
again. Redis outages are waited out (retried forever with backoff); a batch
that fails otherwise is retried message by message, and a message that still
fails goes to the dead-letter topic with the error as its reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import faust
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from state import KeyLayout, UserStateStore
from streams.settings import Settings
from streams.worker.dead_letter import DeadLetter
from streams.worker.fetch_tuning import bound_fetch_wait
from streams.worker.interest_updater import Incoming, InterestUpdater, Outgoing

log = logging.getLogger(__name__)

REDIS_OUTAGE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

BatchHook = Callable[[Outgoing], Awaitable[None]]


def redis_retry(settings: Settings) -> Retry:
    """Forever, with capped exponential backoff: a slow Redis is waited for."""
    return Retry(
        ExponentialWithJitterBackoff(cap=settings.redis_retry_max_s, base=0.05),
        retries=-1,
        supported_errors=REDIS_OUTAGE_ERRORS,
    )


def create_app(settings: Settings, **faust_options: Any) -> faust.App:
    """The worker app for ``settings``; nothing connects until it starts."""
    bound_fetch_wait(settings.fetch_max_wait_ms)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        processing_guarantee="at_least_once",
        topic_partitions=settings.topic_partitions,
        broker_rebalance_timeout=settings.broker_rebalance_timeout_s,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.broker_session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        autodiscover=False,
        **faust_options,
    )
    interactions, recommendations, dead_letters = (
        app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
        )
        for name in (
            settings.topic_interactions,
            settings.topic_recommendations,
            settings.topic_dlq,
        )
    )

    catalog = app.topic(
        settings.topic_items,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    store = UserStateStore.from_url(
        settings.redis_url,
        KeyLayout(settings.redis_prefix),
        settings.vector_size,
        settings.user_ttl_s,
        settings.history_length,
    )
    updater = InterestUpdater(settings, store)

    @app.agent(catalog, name="apply-catalog")
    async def apply_catalog(stream: faust.StreamT[bytes]) -> None:
        retry = redis_retry(settings)
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.batch_size, settings.batch_within_s
        )
        async for events in batches:
            batch = [_incoming(e) for e in events]
            out = await retry.call_with_retry(partial(updater.add_catalog, batch), _log_outage)
            await _produce(app, settings, out)

    @app.agent(interactions, name="apply-interactions")
    async def apply_interactions(stream: faust.StreamT[bytes]) -> None:
        await recommendations.maybe_declare()
        await dead_letters.maybe_declare()
        runner = BatchRunner(updater, redis_retry(settings))
        totals = WorkerTotals(settings.stats_log_interval_s)
        try:
            # take_events is on faust's Stream, not on its StreamT interface.
            batches = stream.take_events(  # type: ignore[attr-defined]
                settings.batch_size, settings.batch_within_s
            )
            async for events in batches:
                batch = [_incoming(e) for e in events]
                out = await runner.run(batch)
                await _produce(app, settings, out)
                totals.add(out)
        finally:
            totals.log()
            await store.aclose()

    return app


class WorkerTotals:
    """Running counts, logged every so often so operators see replays and rejects."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.applied = self.skipped = self.dead_lettered = 0
        self._logged_at = time.monotonic()

    def add(self, out: Outgoing) -> None:
        self.applied += out.applied
        self.skipped += out.skipped
        self.dead_lettered += len(out.dead_letters)
        if time.monotonic() - self._logged_at >= self.interval_s:
            self.log()

    def log(self) -> None:
        self._logged_at = time.monotonic()
        log.info(
            "totals: applied=%d skipped_replays=%d dead_lettered=%d",
            self.applied,
            self.skipped,
            self.dead_lettered,
        )


class BatchRunner:
    """Applies a batch, waiting out Redis outages, isolating poison messages."""

    def __init__(self, updater: InterestUpdater, retry: Retry) -> None:
        self.updater = updater
        self.retry = retry

    async def run(self, batch: Sequence[Incoming]) -> Outgoing:
        try:
            return await self._apply(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch of %d failed; retrying message by message", len(batch))
        out = Outgoing()
        for message in batch:
            try:
                one = await self._apply([message])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception(
                    "message %s[%d]@%d failed", message.topic, message.partition, message.offset
                )
                reason = f"could not be applied: {type(exc).__name__}: {exc}"
                record = DeadLetter(
                    reason, message.value, message.topic, message.partition, message.offset
                )
                out.dead_letters.append((message.key, record.to_json()))
                continue
            out.recommendations += one.recommendations
            out.dead_letters += one.dead_letters
            out.shifts += one.shifts
            out.applied += one.applied
            out.skipped += one.skipped
        return out

    async def _apply(self, batch: Sequence[Incoming]) -> Outgoing:
        async def attempt() -> Outgoing:
            return await self.updater.apply(batch)

        return await self.retry.call_with_retry(attempt, _log_outage)


async def _log_outage(error: Exception) -> None:
    log.warning("Redis unavailable (%s); waiting and retrying", error)


def _incoming(event: faust.EventT[Any]) -> Incoming:
    message = event.message
    return Incoming(message.topic, message.partition, message.offset, message.value, message.key)


async def _produce(app: faust.App, settings: Settings, out: Outgoing) -> None:
    """Hand every message to the producer and wait until the broker has them."""
    producer = app.producer
    futures = []
    for key, value in out.recommendations:
        futures.append(
            await producer.send(settings.topic_recommendations, key, value, None, None, None)
        )
    for key, value in out.shifts:
        futures.append(
            await producer.send(settings.topic_interest_shifts, key, value, None, None, None)
        )
    for dlq_key, value in out.dead_letters:
        futures.append(await producer.send(settings.topic_dlq, dlq_key, value, None, None, None))
    if futures:
        await asyncio.gather(*futures)
