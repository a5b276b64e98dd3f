"""The faust app: one agent that applies interaction batches, one for the catalogue.

No error escapes an agent: faust would ack the message and never see it
again. Redis outages and refusals are waited out inside the updater; a batch
that fails otherwise is retried message by message, and a message that still
fails goes to the dead-letter topic with the error as its reason. Outputs are
produced by :class:`~streams.worker.outputs.Outputs`, which retries what the
broker may take later and never raises; a batch is acked only after its
outputs were accepted. They are sent while the next batch is applied
(:mod:`streams.worker.pipeline`), one batch's after the other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from faust.types import TP

from state import KeyLayout, UserStateStore
from state.cluster import is_cluster
from state.connection import outage_client
from state.epoch import TopicEpochs
from state.item_ageing import ItemAgeing
from state.shadow import ShadowBook
from streams.metrics import metrics_enabled, serve_metrics
from streams.security import faust_credentials, kafka_client_options
from streams.settings import Settings
from streams.worker.ageing import AgeingTracker
from streams.worker.epoch_watch import EpochWatch
from streams.worker.fetch_tuning import bound_fetch_wait
from streams.worker.interest_updater import Incoming, InterestUpdater, Outgoing
from streams.worker.lean_drain import lean_delivery
from streams.worker.metrics import WorkerMetrics
from streams.worker.outputs import Outputs, SendReport
from streams.worker.pipeline import Finish, run_pipelined
from streams.worker.rerank_http import serve_rerank

log = logging.getLogger(__name__)

SHARED_FLUSH_AT_STOP_S = 2.0
"""Longest a stopping worker tries to send what its last batch stepped."""


class _Startup:
    """Starts the shared parts once, whichever agent comes first; waits out outages."""

    def __init__(self, settings: Settings, updater: InterestUpdater, outputs: Outputs) -> None:
        self.settings = settings
        self.updater = updater
        self.outputs = outputs
        self._lock = asyncio.Lock()
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    async def __call__(self) -> None:
        async with self._lock:
            if self._done:
                return
            await self.updater.start()
            delay = 0.05
            while True:
                try:
                    await self.outputs.start()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "Kafka broker %s unreachable for outputs (%s); waiting",
                        self.settings.kafka_bootstrap,
                        exc,
                    )
                    await asyncio.sleep(delay)
                    delay = min(self.settings.redis_retry_max_s, delay * 2)
            self._done = True


def create_app(settings: Settings, **faust_options: Any) -> faust.App:
    """The worker app for ``settings``; nothing connects until it starts."""
    bound_fetch_wait(settings.fetch_max_wait_ms)
    lean_delivery()
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
        # Stop without waiting for in-flight events to be acked: a batch waiting
        # out a Redis outage would hold shutdown forever. Unacked events are not
        # committed, so the next worker replays them (and skips what was applied).
        stream_wait_empty=False,
        web_enabled=False,
        autodiscover=False,
        broker_credentials=faust_credentials(settings),
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
    store = UserStateStore(
        outage_client(settings, settings.redis_timeout_s),
        KeyLayout(settings.redis_prefix),
        settings.vector_size,
        settings.user_ttl_s,
        settings.history_length,
    )
    updater = InterestUpdater(settings, store, ShadowBook(store.client, store.keys))
    if is_cluster(store.client):  # its sweep script spans keys of several slots
        log.warning("item ageing is off on Redis Cluster (see docs/redis-layout.md)")
    else:
        updater.ageing = AgeingTracker(ItemAgeing(store.client, store.keys, settings.item_ttl_s))
    if settings.topic_epoch_poll_s:
        epochs = TopicEpochs(store.client, store.keys)
        updater.epochs = EpochWatch(
            settings.kafka_bootstrap,
            [settings.topic_interactions],
            epochs,
            kafka_client_options(settings),
        )
    updater.measure = metrics_enabled(settings)
    metrics = WorkerMetrics(settings.live_quality_k, settings.live_quality_window)
    app.interests_metrics = metrics  # type: ignore[attr-defined]  # for an in-process dashboard
    outputs = Outputs(
        settings.kafka_bootstrap, settings.redis_retry_max_s, kafka_client_options(settings)
    )
    ready = _Startup(settings, updater, outputs)

    async def produce(out: Outgoing) -> SendReport | None:
        return await produce_outputs(outputs, settings, out)

    @app.agent(catalog, name="apply-catalog")
    async def apply_catalog(stream: faust.StreamT[bytes]) -> None:
        await ready()

        async def handle(events: list[faust.EventT[Any]]) -> None:
            batch = [_incoming(e) for e in events]
            try:
                out = await updater.add_catalog(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("catalogue batch of %d failed", len(batch))
                out = Outgoing()
                for message in batch:
                    reason = f"could not be applied: {type(exc).__name__}: {exc}"
                    letter = updater.dead_letter(message, reason)
                    out.reject(_capped_key(message.key, settings), letter, "apply_failed")
            await produce(out)
            if updater.measure:
                metrics.outputs(out)

        # As the interactions agent consumes (not take_events): an idle catalogue
        # topic costs nothing, where take_events woke the loop every batch window.
        manual = stream.noack()  # type: ignore[attr-defined]  # on Stream, not StreamT
        await run_pipelined(
            manual.events(), handle, manual.ack, settings.batch_size, settings.batch_within_s
        )

    @app.timer(interval=settings.model_poll_s)  # type: ignore[untyped-decorator]
    async def poll_model() -> None:
        """An idle worker swaps too, not only at its next batch."""
        if ready.done:
            await updater.poll_model()

    @app.timer(interval=settings.shared_flush_s)  # type: ignore[untyped-decorator]
    async def flush_shared() -> None:
        """What the last batch before a pause stepped reaches Redis without a next event."""
        if ready.done:
            await updater.flush_shared()

    @app.timer(interval=settings.topic_epoch_poll_s or 3600.0)  # type: ignore[untyped-decorator]
    async def watch_epochs() -> None:
        """The interactions topic recreated under this worker (state.epoch): its log
        restarted at 0, so read the new log from its start."""
        if ready.done and await updater.poll_epochs():
            mine = [
                tp for tp in app.consumer.assignment() if tp.topic == settings.topic_interactions
            ]
            for tp in mine:
                await app.consumer.seek(tp, 0)
            log.warning("reading %d partitions of the recreated topic from 0", len(mine))

    @app.timer(interval=settings.item_refresh_s)  # type: ignore[untyped-decorator]
    async def age_items() -> None:
        """Date the items events named, and remove those unused for INTERESTS_ITEM_TTL_S."""
        if ready.done and updater.ageing is not None:
            await updater.ageing.flush()

    @app.agent(interactions, name="apply-interactions")
    async def apply_interactions(stream: faust.StreamT[bytes]) -> None:
        await recommendations.maybe_declare()
        await dead_letters.maybe_declare()
        await ready()
        runner = BatchRunner(updater)
        totals = WorkerTotals(settings.stats_log_interval_s)
        server = serve_metrics(metrics.registry, settings)
        rerank_server = serve_rerank(settings)

        async def handle(events: list[faust.EventT[Any]]) -> Finish:
            """Apply the batch; its outputs are sent while the next batch is applied."""
            started = time.perf_counter()
            out = await runner.run([_incoming(e) for e in events])
            apply_s = time.perf_counter() - started

            async def send() -> None:
                sending = time.perf_counter()
                if settings.hold_outputs_s:  # test only: a crash lands between write and produce
                    await asyncio.sleep(settings.hold_outputs_s)
                report = await produce(out)
                produce_s = time.perf_counter() - sending
                totals.add(out, len(events), apply_s, produce_s)
                if updater.measure:
                    metrics.batch(out, len(events), apply_s, produce_s, time.time())
                    sent = len(out.recommendations) + len(out.shifts) + len(out.dead_letters)
                    metrics.produced(report, sent)
                    _record_lag(app, metrics, events)
                    if metrics.version != updater.model_version:
                        metrics.model(updater.model_version, await _published_at(store, updater))

            return send

        manual = stream.noack()  # type: ignore[attr-defined]  # on Stream, not StreamT
        try:
            await run_pipelined(
                manual.events(),
                handle,
                manual.ack,
                settings.batch_size,
                settings.batch_within_s,
            )
        finally:
            with contextlib.suppress(Exception):  # bounded: a stop must not wait on Redis
                await asyncio.wait_for(updater.flush_shared(), SHARED_FLUSH_AT_STOP_S)
            totals.log()
            if server is not None:
                server.shutdown()
            if rerank_server is not None:
                rerank_server.shutdown()
            with contextlib.suppress(Exception):
                await outputs.stop()
            if updater.epochs is not None:
                await updater.epochs.close()
            with contextlib.suppress(Exception):
                await store.aclose()

    return app


class WorkerTotals:
    """Running counts, logged every so often so operators see replays and rejects."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.applied = self.skipped = self.dead_lettered = self.outage_waits = 0
        self.recommendations = self.batches = self.messages = 0
        self.apply_s = self.produce_s = 0.0
        self._logged_at = time.monotonic()

    def add(
        self, out: Outgoing, messages: int = 0, apply_s: float = 0.0, produce_s: float = 0.0
    ) -> None:
        self.batches += 1
        self.messages += messages
        self.apply_s += apply_s
        self.produce_s += produce_s
        self.applied += out.applied
        self.skipped += out.skipped
        self.dead_lettered += len(out.dead_letters)
        self.outage_waits += out.outages
        self.recommendations += len(out.recommendations)
        if time.monotonic() - self._logged_at >= self.interval_s:
            self.log()

    def log(self) -> None:
        self._logged_at = time.monotonic()
        log.info(
            "totals: applied=%d skipped_replays=%d dead_lettered=%d recommendations=%d "
            "redis_outage_waits=%d batches=%d mean_batch=%.1f apply_s=%.2f produce_s=%.2f",
            self.applied,
            self.skipped,
            self.dead_lettered,
            self.recommendations,
            self.outage_waits,
            self.batches,
            self.messages / max(1, self.batches),
            self.apply_s,
            self.produce_s,
        )


class BatchRunner:
    """Applies a batch (the updater waits out Redis outages), isolating poison messages."""

    def __init__(self, updater: InterestUpdater) -> None:
        self.updater = updater

    async def run(self, batch: Sequence[Incoming]) -> Outgoing:
        try:
            return await self.updater.apply(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch of %d failed; retrying message by message", len(batch))
        out = Outgoing()
        for message in batch:
            try:
                out.merge(await self.updater.apply([message]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception(
                    "message %s[%d]@%d failed", message.topic, message.partition, message.offset
                )
                reason = f"could not be applied: {type(exc).__name__}: {exc}"
                out.reject(message.key, self.updater.dead_letter(message, reason), "apply_failed")
        return out


def _record_lag(app: faust.App, metrics: WorkerMetrics, events: list[faust.EventT[Any]]) -> None:
    """Lag of each partition in the batch: its high watermark (from the consumer's
    last fetch, no request) minus the next offset to handle."""
    last: dict[tuple[str, int], int] = {}
    for event in events:
        last[(event.message.topic, event.message.partition)] = event.message.offset
    for (topic, partition), offset in last.items():
        try:
            highwater = app.consumer.highwater(TP(topic, partition))
        except Exception:  # no fetch yet, or partitions moving: skip this time
            continue
        if highwater is not None:
            metrics.consumer_lag(topic, partition, highwater - offset - 1)


async def _published_at(store: UserStateStore, updater: InterestUpdater) -> float | None:
    """When the version in use was published (its registry record); None if unknown."""
    try:
        raw = await store.client.hget(
            store.keys.model_record(updater.model_version), "published_at"
        )
    except Exception:  # an outage: the age is unknown until the next swap, never fatal
        return None
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _incoming(event: faust.EventT[Any]) -> Incoming:
    message = event.message
    return Incoming(message.topic, message.partition, message.offset, message.value, message.key)


def _capped_key(key: bytes | None, settings: Settings) -> bytes | None:
    """A dead letter's key is the rejected message's, cut to the dead letters' cap."""
    return key[: settings.dlq_raw_max_bytes] if key is not None else None


async def produce_outputs(outputs: Outputs, settings: Settings, out: Outgoing) -> SendReport | None:
    """Send every output and wait until the broker has them; never raises (but cancels).

    The send's report, or None when the send failed as a whole (logged)."""
    try:
        report = await outputs.send(
            [
                (settings.topic_recommendations, out.recommendations),
                (settings.topic_interest_shifts, out.shifts),
                (
                    settings.topic_dlq,
                    [(_capped_key(k, settings), v) for k, v in out.dead_letters],
                ),
            ]
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(
            "could not produce %d recommendation(s), %d shift(s), %d dead letter(s)",
            len(out.recommendations),
            len(out.shifts),
            len(out.dead_letters),
        )
        return None
    if report.dropped:
        log.error("%d output message(s) dropped (see above)", report.dropped)
    return report
