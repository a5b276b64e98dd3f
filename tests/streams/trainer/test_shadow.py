"""Shadow candidates: staged beside the current version, scored live by workers, then
promoted or rejected on their live figures (real redis-server and broker)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from models.long_term.refresh import refresh
from models.shadow import ShadowTally
from state.keys import Field, KeyLayout
from state.shadow import ShadowBook
from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.settings import Settings
from streams.trainer.service import Trainer, refresh_config
from tests.support.harness import (
    decode_json,
    events_applied,
    isolated_settings,
    produce,
    read_topic,
    wait_until,
)
from tests.support.mixed_stream import category_histories, mixed_stream

pytestmark = pytest.mark.slow


def _add(settings: Settings, version: str, tally: ShadowTally) -> None:
    """What workers add after scoring a batch."""

    async def go() -> None:
        client = aioredis.Redis.from_url(settings.redis_url)
        try:
            await ShadowBook(client, KeyLayout(settings.redis_prefix)).add(version, tally)
        finally:
            await client.aclose()

    asyncio.run(go())


def _stages(settings: Settings) -> list[tuple[str, str]]:
    messages = read_topic(settings, settings.topic_model_updates, expect=1, timeout=10)
    return [(m["version"], m["stage"]) for m in (decode_json(v) for _, v in messages)]


def test_a_shadow_is_promoted_or_rejected_on_its_live_figures(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    model_dir = tmp_path / "models"
    settings = isolated_settings(
        services,
        vector_size=8,
        trainer_epochs=1,
        trainer_max_len=12,
        model_dir=str(model_dir),
        promotion="shadow",
        shadow_events=50,
        shadow_max_s=600.0,
    )
    trainer = Trainer(settings)
    registry = trainer.registry
    user_hash = registry.keys.user("u1")
    try:
        histories = category_histories()
        for user, items in histories.items():  # as workers keep them
            registry.client.rpush(registry.keys.history(user), *items)
        result = refresh(histories, None, refresh_config(settings))
        assert trainer._publish(result, histories) == "gru-1"

        # Staged: workers can load it, nobody is served by it.
        assert trainer._stage(result) == "gru-2"
        assert registry.current_version() == "gru-1" and trainer.shadow.current() == "gru-2"
        assert registry.client.exists(registry.keys.items("gru-2"))
        assert registry.client.exists(registry.keys.gru_step("gru-2"))
        assert registry.client.hget(user_hash, Field.LONG_TERM_VERSION) == b"gru-1"

        # Worse on the same events: rejected and removed.
        _add(settings, "gru-2", ShadowTally(50, 20.0, 10.0, 30, 15))
        outcome = trainer.refresh_once()
        assert outcome.shadow is not None and outcome.shadow.decision == "reject"
        assert outcome.published is None and outcome.result is None  # nothing trained
        assert registry.current_version() == "gru-1" and trainer.shadow.current() is None
        assert registry.record("gru-2") is None
        assert not registry.client.exists(registry.keys.items("gru-2"))
        assert not (model_dir / "gru-2.pt").exists()

        # Not enough events yet: it waits; then better: promoted, users served by it.
        assert trainer._stage(result) == "gru-3"
        _add(settings, "gru-3", ShadowTally(10, 4.0, 5.0, 6, 7))
        waiting = trainer.refresh_once()
        assert waiting.shadow is not None and waiting.shadow.decision == "wait"
        assert registry.current_version() == "gru-1"
        _add(settings, "gru-3", ShadowTally(40, 16.0, 20.0, 24, 28))
        promoted = trainer.refresh_once()
        assert promoted.shadow is not None and promoted.shadow.decision == "promote"
        assert promoted.published == "gru-3" and registry.current_version() == "gru-3"
        assert trainer.shadow.current() is None
        assert registry.client.hget(user_hash, Field.LONG_TERM_VERSION) == b"gru-3"
        record = registry.record("gru-3")
        assert record is not None and record.figures["live"]["live_events"] == 50
        assert record.figures["live"]["live_ndcg_candidate"] == pytest.approx(25.0 / 50)
        assert record.figures["live"]["live_ndcg_current"] == pytest.approx(20.0 / 50)

        # No verdict in time: rejected for want of evidence.
        assert trainer._stage(result) == "gru-4"
        impatient = Trainer(settings.replace(shadow_max_s=0.001))
        try:
            late = impatient.refresh_once()
        finally:
            impatient.close()
        assert late.shadow is not None and late.shadow.decision == "reject"
        assert registry.current_version() == "gru-3" and registry.record("gru-4") is None

        stages: dict[str, list[str]] = {}
        for version, stage in _stages(settings):  # in order per version (the key)
            stages.setdefault(version, []).append(stage)
        assert stages == {
            "gru-1": ["published"],
            "gru-2": ["shadow", "rejected"],
            "gru-3": ["shadow", "promoted"],
            "gru-4": ["shadow", "rejected"],
        }
        # The metrics saw both decisions.
        decisions = trainer.metrics.shadow_decisions
        assert decisions.labels("promote")._value.get() == 1
        assert decisions.labels("reject")._value.get() == 1  # the other was another trainer
    finally:
        trainer.close()


def test_workers_score_the_shadow_on_live_events_and_publish_nothing_from_it(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(
        services,
        vector_size=16,
        trainer_epochs=3,
        trainer_max_len=20,
        # What is tested here is the shadow's mechanics, not the offline gate: on this tiny
        # stream (~27 gate users) a first version could miss popularity, or the warm-started
        # second one the first, by one held-back item (seen in CI with the constant recipe
        # too); the slack lets every candidate through the gate so the live tally decides.
        trainer_gate_slack=1.0,
        trainer_schedule="constant",
        trainer_learning_rate=0.003,
        trainer_batch_size=128,
        trainer_label_smoothing=0.0,
        model_dir=str(tmp_path / "models"),
        model_poll_s=0.2,
        promotion="shadow",
        shadow_events=60,
        shadow_users_per_batch=40,
    )
    first = mixed_stream(valid=2500, users=40, malformed_every=10_000, seed=11)
    produce(settings, first.messages)  # type: ignore[arg-type]
    worker = start_worker(settings, tmp_path / "worker.log")
    log = tmp_path / "worker.log"
    try:
        expected = first.valid_per_user
        users = sorted(expected)
        wait_until(lambda: events_applied(settings, users) == dict(expected), 90, "the first part")
        direct = Trainer(settings.replace(promotion="direct"))
        try:
            assert direct.refresh_once().published == "gru-1"
        finally:
            direct.close()
        wait_until(lambda: "swapped model online -> gru-1" in log.read_text(), 60, "the swap")
        # Users are shown lists by gru-1, which the shadow is measured against.
        second = mixed_stream(valid=800, users=40, malformed_every=10_000, seed=12)
        produce(settings, second.messages)  # type: ignore[arg-type]
        expected = expected + second.valid_per_user
        wait_until(lambda: events_applied(settings, users) == dict(expected), 90, "the second part")

        trainer = Trainer(settings)
        try:
            staged = trainer.refresh_once()
            assert staged.staged == "gru-2" and staged.published is None, staged.result
            wait_until(
                lambda: "scoring gru-2 in the shadow of gru-1" in log.read_text(), 60, "the shadow"
            )
            third = mixed_stream(valid=1500, users=40, malformed_every=10_000, seed=13)
            # In three parts, each applied before the next is sent: a worker scores at most
            # shadow_users_per_batch users per batch, and one idle worker may take a whole
            # part in one batch; three batches of 40 users give it more than 60 events.
            sent = sum(expected.values())

            def all_applied() -> bool:
                return sum(events_applied(settings, users).values()) == sent

            for part in range(3):
                chunk = third.messages[part * 500 : (part + 1) * 500]
                produce(settings, chunk)  # type: ignore[arg-type]
                sent += len(chunk)
                wait_until(all_applied, 90, f"part {part + 1} of the third stream")
            expected = expected + third.valid_per_user
            assert events_applied(settings, users) == dict(expected)
            tally = trainer.shadow.tally("gru-2")
            assert tally.events >= 60, tally  # workers scored it on live events
            assert 0 <= tally.candidate_hits <= tally.events
            assert 0 <= tally.current_hits <= tally.events
            # Nothing the candidate ranked went out.
            recs = read_topic(settings, settings.topic_recommendations, expect=1, timeout=10)
            versions = {orjson.loads(v or b"{}")["model_version"] for _, v in recs}
            assert "gru-2" not in versions and "gru-1" in versions

            verdict = trainer.refresh_once().shadow
            assert verdict is not None and verdict.version == "gru-2"
            current, candidate = verdict.tally.mean_ndcg()
            assert verdict.decision == ("promote" if candidate >= current else "reject")
            now = trainer.registry.current_version()
            assert now == ("gru-2" if verdict.decision == "promote" else "gru-1")
        finally:
            trainer.close()
        wait_until(lambda: "shadow of gru-2 ended" in log.read_text(), 60, "the shadow to end")
    finally:
        worker.stop()
