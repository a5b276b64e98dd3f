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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from aiokafka import AIOKafkaProducer

from models.cold_start import cold_start_vectors
from models.gru_step import GRUStepper
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
from models.shadow import ShadowVerdict, decide
from models.text_encoder import TextEncoder, load_text_encoder
from state.connection import sync_client
from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from state.shadow import ShadowStage
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
    staged: str | None = None
    """A candidate put in the shadow (``INTERESTS_PROMOTION=shadow``), not yet serving."""
    shadow: ShadowVerdict | None = None
    """What became of a shadow candidate this refresh looked at instead of training."""


def refresh_config(settings: Settings) -> RefreshConfig:
    return RefreshConfig(
        dim=settings.vector_size,
        max_len=settings.trainer_max_len,
        dropout=settings.trainer_dropout,
        patience=settings.trainer_patience,
        min_steps=settings.trainer_min_steps,
        gate_slack=settings.trainer_gate_slack,
        seed=settings.seed,
        train=TrainConfig(
            epochs=settings.trainer_epochs,
            batch_size=settings.trainer_batch_size,
            lr=settings.trainer_learning_rate,
            loss=settings.trainer_loss,  # type: ignore[arg-type]
            seed=settings.seed,
            schedule=settings.trainer_schedule,  # type: ignore[arg-type]
            label_smoothing=settings.trainer_label_smoothing,
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
        self.shadow = ShadowStage(self.registry.client, KeyLayout(settings.redis_prefix))

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
        """Decide a candidate in the shadow; else train one, gate it and publish or stage it."""
        started = time.perf_counter()
        staged = self.shadow.current()
        if staged is not None:  # one candidate at a time: its verdict comes first
            verdict = self.decide_shadow(staged)
            published = staged if verdict.decision == "promote" else None
            return RefreshOutcome(published, None, time.perf_counter() - started, shadow=verdict)
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
        if self.settings.promotion == "shadow":
            staged = self._stage(result)
            return RefreshOutcome(None, result, time.perf_counter() - started, staged=staged)
        version = self._publish(result, histories)
        return RefreshOutcome(version, result, time.perf_counter() - started)

    def _save_weights(self, result: RefreshResult) -> ModelRecord:
        """The candidate's weights file and its record (nothing in Redis yet)."""
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
        return ModelRecord(version, sha256_hex(data), weights_file, result.vocab.ids, figures)

    def _items(
        self, model: GRURecommender, vocab: Vocabulary, record: ModelRecord
    ) -> tuple[dict[str, np.ndarray], bytes | None]:
        """Item vectors (with cold-start ones for catalogue items it never saw) and the
        content projection that made those."""
        items = item_vectors(model, vocab)
        catalog = self.registry.catalog()  # the text model loads only for a catalogue
        encoder = self._text_encoder() if catalog else None
        projection, cold = cold_start_vectors(catalog, items, encoder=encoder)
        record.figures["cold_start_items"] = len(cold)
        return {**cold, **items}, projection.to_bytes() if projection is not None else None

    def _publish(self, result: RefreshResult, histories: dict[str, list[str]]) -> str:
        record = self._save_weights(result)
        self._serve(record, result.model, result.vocab, histories)
        return record.version

    def _serve(
        self,
        record: ModelRecord,
        model: GRURecommender,
        vocab: Vocabulary,
        histories: dict[str, list[str]],
        announce: Mapping[str, object] | None = None,
    ) -> None:
        """Write users' long-term vectors, point workers at ``record``, announce, collect."""
        items, projection = self._items(model, vocab, record)
        users = user_long_term(model, vocab, histories)
        self.registry.publish(
            record,
            items,
            users.vectors,
            projection,
            long_term_states=users.states,
            gru_step=users.stepper.to_bytes(),
        )
        asyncio.run(self._announce(record, announce))
        log.info(
            "published %s (%d items, sha256 %s)", record.version, len(vocab), record.sha256[:12]
        )
        collect_old_versions(self.registry, self.model_dir, self.settings.model_keep_versions)

    # -- shadow candidates (INTERESTS_PROMOTION=shadow) -------------------------

    def _stage(self, result: RefreshResult) -> str:
        """Put a candidate that passed the gate in the shadow: workers score it on live
        events beside the current version; no user is served by it yet."""
        record = self._save_weights(result)
        items, projection = self._items(result.model, result.vocab, record)
        stepper = GRUStepper.from_model(result.model)
        self.registry.stage(record, items, projection, stepper.to_bytes())
        self.shadow.start(record.version)
        asyncio.run(self._announce(record, {"stage": "shadow"}))
        log.info(
            "%s in the shadow: decided after %d live events (or %.0f s)",
            record.version,
            self.settings.shadow_events,
            self.settings.shadow_max_s,
        )
        return record.version

    def decide_shadow(self, version: str) -> ShadowVerdict:
        """Promote, reject or keep waiting on the candidate in the shadow."""
        s = self.settings
        tally = self.shadow.tally(version)
        staged_at = self.registry.staged_at(version)
        age = time.time() - staged_at if staged_at is not None else float("inf")
        decision = decide(tally, age, s.shadow_events, s.shadow_max_s)
        verdict = ShadowVerdict(version, decision, tally)
        current_ndcg, candidate_ndcg = tally.mean_ndcg()
        log.info(
            "shadow %s after %d live events (%.0f s): NDCG@%d candidate %.4f, current %.4f -> %s",
            version,
            tally.events,
            age,
            s.live_quality_k,
            candidate_ndcg,
            current_ndcg,
            decision,
        )
        self.metrics.shadowed(verdict)
        if decision == "wait":
            return verdict
        live = verdict.figures(s.live_quality_k)
        if decision == "promote":
            self._promote(version, live)
        else:
            self.shadow.end(version)
            weights_file = self.registry.drop(version)
            if weights_file:
                (self.model_dir / weights_file).unlink(missing_ok=True)
            record = ModelRecord(version, "", weights_file or "", [], {})
            asyncio.run(self._announce(record, {"stage": "rejected", **live}))
        return verdict

    def _promote(self, version: str, live: Mapping[str, object]) -> None:
        record = self.registry.record(version)
        if record is None:
            raise TrainerError(f"shadow {version} has no record; cannot promote it")
        try:
            data = (self.model_dir / record.weights_file).read_bytes()
            model = model_from_bytes(data, record.sha256)
        except (OSError, ValueError) as exc:
            raise TrainerError(f"refusing to promote {version}: {exc}") from None
        vocab = Vocabulary(list(record.item_ids), {i: r for r, i in enumerate(record.item_ids, 1)})
        record.figures["live"] = dict(live)
        self._serve(record, model, vocab, self.registry.histories(), {"stage": "promoted", **live})
        self.shadow.end(version)

    def _text_encoder(self) -> TextEncoder | None:
        """Loaded at the first publish, kept: item texts join the content projection."""
        if not hasattr(self, "_encoder"):
            self._encoder = load_text_encoder(self.settings.text_model, self.threads.threads)
        return self._encoder

    async def _announce(
        self, record: ModelRecord, extra: Mapping[str, object] | None = None
    ) -> None:
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
                "stage": "published",
                **record.figures,
                **(extra or {}),
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
            if self.shadow.current() is not None:  # decided as soon as it can be
                try:
                    verdict = self.refresh_once().shadow
                except TrainerError as exc:
                    self.metrics.refreshes.labels("failed").inc()
                    log.error("%s; the current version stays", exc)
                    verdict = None
                if verdict is not None and verdict.decision != "wait":
                    last_at, last_total = time.monotonic(), total
            elif due or total - last_total >= self.settings.trainer_min_new_events:
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
                + (f"; in the shadow: {outcome.staged}" if outcome.staged else "")
                + (
                    f"; shadow {outcome.shadow.version}: {outcome.shadow.decision}"
                    if outcome.shadow
                    else ""
                )
            )
            return 0
        trainer.run_forever()
        return 0
    finally:
        if server is not None:
            server.shutdown()
        trainer.close()
