"""A worker's /metrics after a stream of valid and bad events (real broker and redis-server)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.devtools.embedded import EmbeddedServices, free_port, start_worker
from tests.support.harness import events_applied, isolated_settings, produce, wait_until
from tests.support.mixed_stream import mixed_stream

pytestmark = pytest.mark.slow


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint, by (name, sorted labels); empty while it is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_exactly_what_the_worker_applied_and_dead_lettered(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    port = free_port()
    settings = isolated_settings(services, max_event_bytes=4096, metrics_port=port)
    stream = mixed_stream(valid=800, users=25, malformed_every=20, seed=5, oversize=1)
    wrong_key = [
        (b"u1", orjson.dumps({"user_id": "u2", "item_id": "i1", "type": "view", "ts": 1.0}))
        for _ in range(3)
    ]
    produce(settings, stream.messages + wrong_key)  # type: ignore[arg-type, operator]
    valid = sum(stream.valid_per_user.values())
    users = sorted(stream.valid_per_user)
    dead = len(stream.malformed)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: events_applied(settings, users) == dict(stream.valid_per_user),
            timeout=90,
            what="every valid event to be applied",
        )
        wait_until(
            lambda: (
                scrape(port).get(("interests_freshness_recommendation_seconds_count", ())) == valid
            ),
            timeout=30,
            what="the last batch to reach the metrics",
        )
        samples = scrape(port)
    finally:
        worker.stop()

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("interests_events_applied_total") == valid
    assert value("interests_events_replayed_total") == 0
    assert value("interests_dead_letters_total", reason="invalid_event") == dead
    assert value("interests_dead_letters_total", reason="key_mismatch") == len(wrong_key)
    assert value("interests_dead_letters_total", reason="apply_failed") == 0
    assert value("interests_freshness_state_seconds_count") == valid
    assert value("interests_freshness_recommendation_seconds_count") == valid
    assert value("interests_freshness_state_seconds_bucket", le="+Inf") == valid
    assert value("interests_batch_size_events_sum") == valid + dead + len(wrong_key)
    assert value("interests_batch_seconds_count", stage="apply") == value(
        "interests_batch_size_events_count"
    )
    recs = value("interests_recommendations_total")
    assert recs >= len(users)
    assert value("interests_output_messages_total", fate="sent") >= recs + dead + len(wrong_key)
    assert value("interests_output_messages_total", fate="dropped") == 0
    assert value("interests_redis_roundtrip_seconds_count", op="read") >= 1
    assert value("interests_redis_roundtrip_seconds_count", op="write") >= 1
    assert value("interests_model_info", version="online") == 1
    assert value("interests_model_age_seconds") == 0  # the online-only model has no record
    lags = [v for (name, _), v in samples.items() if name == "interests_consumer_lag_messages"]
    assert lags and all(lag >= 0 for lag in lags)
    # Users seen in more than one batch had a list shown, and every such batch scored once.
    scored = sum(v for (n, _), v in samples.items() if n == "interests_live_scored_events_total")
    hits = sum(v for (n, _), v in samples.items() if n == "interests_live_hits_total")
    assert 0 < scored <= valid and 0 <= hits <= scored
