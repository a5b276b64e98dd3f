"""The /metrics server (off at port 0, loopback by default) and the trainer's metrics."""

from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry, Counter

from streams.devtools.embedded import free_port
from streams.metrics import serve_metrics
from streams.settings import Settings
from streams.trainer.metrics import TrainerMetrics


def test_port_0_serves_nothing() -> None:
    assert serve_metrics(CollectorRegistry(), Settings()) is None


def test_the_registry_is_served_on_loopback() -> None:
    registry = CollectorRegistry()
    Counter("interests_probe", "A probe.", registry=registry).inc(3)
    settings = Settings(metrics_port=free_port())
    server = serve_metrics(registry, settings)
    assert server is not None
    try:
        assert server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert "interests_probe_total 3.0" in response.read().decode()
    finally:
        server.shutdown()
        server.server_close()


def test_a_taken_port_leaves_the_process_running_without_metrics() -> None:
    settings = Settings(metrics_port=free_port())
    first = serve_metrics(CollectorRegistry(), settings)
    assert first is not None
    try:
        assert serve_metrics(CollectorRegistry(), settings) is None
    finally:
        first.shutdown()
        first.server_close()


def test_trainer_metrics_record_the_gate_and_both_ndcgs() -> None:
    metrics = TrainerMetrics()
    metrics.refreshed(12.0, True, (0.31, 0.29, 5000.0), finished_at=100.0)
    metrics.refreshed(3.0, False, (0.20, 0.30, 4000.0), finished_at=200.0)
    metrics.refreshed(0.1, False, None, finished_at=300.0)
    sample = metrics.registry.get_sample_value
    assert sample("interests_trainer_refreshes_total", {"result": "published"}) == 1
    assert sample("interests_trainer_refreshes_total", {"result": "rejected"}) == 1
    assert sample("interests_trainer_refreshes_total", {"result": "no_data"}) == 1
    assert sample("interests_trainer_validation_ndcg", {"model": "candidate"}) == 0.20
    assert sample("interests_trainer_validation_ndcg", {"model": "current"}) == 0.30
    assert sample("interests_trainer_refresh_seconds_count") == 3
    assert sample("interests_trainer_refresh_seconds_sum") == 15.1
    assert sample("interests_trainer_last_refresh_timestamp_seconds") == 300.0
