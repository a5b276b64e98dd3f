"""``interests trainer``: periodic, validated refreshes of the long-term model.

Every ``INTERESTS_TRAINER_INTERVAL_S`` or after ``INTERESTS_TRAINER_MIN_NEW_EVENTS``
events, whichever comes first: read users' histories from Redis, train a
candidate warm-started from the current version, validate both on held-back
recent events, and publish the candidate only if it is at least as good.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from models.cold_start import cold_start_vectors
from models.long_term import (
    GRURecommender,
    TrainConfig,
    TrainProgress,
    model_from_bytes,
    model_to_bytes,
    sha256_hex,
)
from models.long_term.refresh import (
    RefreshConfig,
    RefreshResult,
    SequenceTransform,
    Vocabulary,
    item_vectors,
    refresh,
    user_long_term,
)
from models.long_term.threads import apply_threads
from state.connection import sync_client
from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from streams.metrics import serve_metrics
from streams.security import kafka_client_options
from streams.settings import Settings
from streams.trainer.metrics import TrainerMetrics
from streams.trainer.retention import collect_old_versions

log = logging.getLogger(__name__)


class TrainerError(RuntimeError):
    """A refresh cannot go on; the current version stays published."""


@dataclass(frozen=True)
class RefreshOutcome:
    published: str | None
    result: RefreshResult | None
    seconds: float


def refresh_config(settings: Settings) -> RefreshConfig:
    return RefreshConfig(
        dim=settings.vector_size,
        max_len=settings.trainer_max_len,
        dropout=settings.trainer_dropout,
        patience=settings.trainer_patience,
        seed=settings.seed,
        train=TrainConfig(
            epochs=settings.trainer_epochs,
            batch_size=settings.trainer_batch_size,
            lr=settings.trainer_learning_rate,
            loss=settings.trainer_loss,  # type: ignore[arg-type]
            seed=settings.seed,
        ),
    )


class Trainer:
    """Owns the model directory; speaks to Redis through the registry."""

    def __init__(
        self, settings: Settings, train_transform: SequenceTransform | None = None
    ) -> None:
        if settings.model_keep_versions < 1:
            # With none kept, a worker still loading the previous version loses it.
            raise TrainerError("INTERESTS_MODEL_KEEP_VERSIONS must be at least 1")
        self.settings = settings
        self.registry = ModelRegistry(
            sync_client(settings), KeyLayout(settings.redis_prefix), settings.user_ttl_s
        )
        self.model_dir = Path(settings.model_dir)
        self.train_transform = train_transform
        self.metrics = TrainerMetrics()
        self.threads = apply_threads(settings.torch_threads)  # logged with each training

    def close(self) -> None:
        self.registry.close()

    def load_current(self) -> tuple[GRURecommender, Vocabulary] | None:
        """The published model, checked against its recorded SHA-256."""
        version = self.registry.current_version()
        record = self.registry.record(version) if version else None
        if record is None:
            return None
        path = self.model_dir / record.weights_file
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TrainerError(f"weights of {version} unreadable at {path}: {exc}") from None
        try:
            model = model_from_bytes(data, record.sha256)
        except ValueError as exc:
            raise TrainerError(f"refusing weights of {version} at {path}: {exc}") from None
        vocab = Vocabulary(list(record.item_ids), {i: r for r, i in enumerate(record.item_ids, 1)})
        return model, vocab

    def _observe(self, outcome: RefreshOutcome) -> RefreshOutcome:
        """Record a refresh in the metrics."""
        r = outcome.result
        gated = None if r is None else (r.candidate_ndcg, r.baseline_ndcg, r.report.positions_per_s)
        self.metrics.refreshed(outcome.seconds, outcome.published is not None, gated, time.time())
        return outcome

    def refresh_once(self) -> RefreshOutcome:
        started = time.perf_counter()
        current = self.load_current()
        histories = self.registry.histories()
        if not histories:
            log.info("no user histories yet; nothing to train")
            return RefreshOutcome(None, None, time.perf_counter() - started)
        log.info(
            "training on %d users (%d events), warm start: %s, %s",
            len(histories),
            sum(map(len, histories.values())),
            "yes" if current else "no",
            self.threads.describe(),
        )
        result = refresh(
            histories, current, refresh_config(self.settings), _log_progress, self.train_transform
        )
        log.info(
            "validation NDCG@10 on %d held-back events: candidate %.4f, %s %.4f -> %s",
            result.held_out_users,
            result.candidate_ndcg,
            result.baseline,
            result.baseline_ndcg,
            "publish" if result.accepted else "reject",
        )
        if not result.accepted:
            return RefreshOutcome(None, result, time.perf_counter() - started)
        version = self._publish(result, histories)
        return RefreshOutcome(version, result, time.perf_counter() - started)

    def _publish(self, result: RefreshResult, histories: dict[str, list[str]]) -> str:
        version = self.registry.next_version()
        data = model_to_bytes(result.model)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        weights_file = f"{version}.pt"
        tmp = self.model_dir / f".{weights_file}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.model_dir / weights_file)
        figures = {
            "ndcg_at_10": result.candidate_ndcg,
            "baseline": result.baseline,
            "baseline_ndcg_at_10": result.baseline_ndcg,
            "held_out": result.held_out_users,
            "positions_per_s": result.report.positions_per_s,
            "device": result.report.device,
            "train_seconds": result.report.seconds,
            "n_items": len(result.vocab),
        }
        items = item_vectors(result.model, result.vocab)
        projection, cold = cold_start_vectors(self.registry.catalog(), items)
        figures["cold_start_items"] = len(cold)
        record = ModelRecord(version, sha256_hex(data), weights_file, result.vocab.ids, figures)
        users = user_long_term(result.model, result.vocab, histories)
        self.registry.publish(
            record,
            {**cold, **items},
            users.vectors,
            projection.to_bytes() if projection is not None else None,
            long_term_states=users.states,
            gru_step=users.stepper.to_bytes(),
        )
        asyncio.run(self._announce(record))
        log.info(
            "published %s (%d items, sha256 %s)", version, len(result.vocab), record.sha256[:12]
        )
        collect_old_versions(self.registry, self.model_dir, self.settings.model_keep_versions)
        return version

    async def _announce(self, record: ModelRecord) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            **kafka_client_options(self.settings),
        )
        await producer.start()
        try:
            message = {
                "version": record.version,
                "sha256": record.sha256,
                "published_ts": time.time(),
                **record.figures,
            }
            await producer.send_and_wait(
                self.settings.topic_model_updates,
                orjson.dumps(message),
                key=record.version.encode(),
            )
        finally:
            await producer.stop()

    def run_forever(self) -> None:
        """Refresh on the interval or after enough new events; never exits on its own."""
        last_at, last_total = time.monotonic(), self.registry.events_total()
        while True:
            total = self.registry.events_total()
            due = time.monotonic() - last_at >= self.settings.trainer_interval_s
            if due or total - last_total >= self.settings.trainer_min_new_events:
                try:
                    self._observe(self.refresh_once())
                except TrainerError as exc:
                    self.metrics.refreshes.labels("failed").inc()
                    log.error("%s; the current version stays", exc)
                last_at, last_total = time.monotonic(), total
            time.sleep(self.settings.trainer_poll_s)


def _log_progress(progress: TrainProgress) -> None:
    log.info(
        "epoch %d step %d/%d loss %.4f",
        progress.epoch + 1,
        progress.step,
        progress.steps_per_epoch,
        progress.loss,
    )


def run_trainer(settings: Settings, once: bool) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    trainer = Trainer(settings)
    server = serve_metrics(trainer.metrics.registry, settings)
    try:
        if once:
            outcome = trainer.refresh_once()
            print(
                f"refresh took {outcome.seconds:.1f}s; published: {outcome.published or 'nothing'}"
            )
            return 0
        trainer.run_forever()
        return 0
    finally:
        if server is not None:
            server.shutdown()
        trainer.close()
