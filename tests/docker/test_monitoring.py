"""Prometheus and Grafana of the compose file (``--profile monitoring``), checked
without Docker: they are opt-in, scrape the port the workers and trainers
serve on, Grafana reads the provisioned datasource and dashboard, and every
query of the dashboard names metrics (and labels) the processes really export,
taken from the registries of :class:`WorkerMetrics` and :class:`TrainerMetrics`."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from streams.trainer.metrics import TrainerMetrics
from streams.worker.metrics import WorkerMetrics
from tests.docker.test_compose_file import compose_config, environment, service
from tests.support.paths import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "interests.json"
SCRAPED = {"worker": ("worker",), "trainer": ("trainer", "trainer-gpu")}
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "count", "max", "avg", "time",
    "le", "up", "job",
}  # fmt: skip


def yaml_file(path: Path) -> Any:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def mounted(svc: dict[str, Any], target: str) -> Path:
    """The host path a service mounts at ``target`` (bind mounts only)."""
    for volume in svc.get("volumes", []):
        source, dest = (
            (volume["source"], volume["target"])
            if isinstance(volume, dict)
            else str(volume).split(":")[:2]
        )
        if dest == target:
            path = Path(source)
            return path if path.is_absolute() else DOCKER / path
    raise AssertionError(f"nothing is mounted at {target}")


@cache
def exported() -> dict[str, set[str]]:
    """Every series name the worker and trainer export, with its label names."""
    out: dict[str, set[str]] = {}
    for registry in (WorkerMetrics(10, 100).registry, TrainerMetrics().registry):
        for collector, names in registry._collector_to_names.items():
            labels = set(getattr(collector, "_labelnames", ()))
            for name in names:
                out[name] = labels | ({"le"} if name.endswith("_bucket") else set())
    return out


def queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def test_monitoring_is_opt_in_and_published_on_loopback_only() -> None:
    for name in ("prometheus", "grafana"):
        svc = service(name)
        assert svc["profiles"] == ["monitoring"], f"{name} would start on every `up`"
        assert svc["image"].split(":")[1] not in ("", "latest"), f"{name}: pin the image"
        volumes = {
            str(v.get("source") if isinstance(v, dict) else v).split(":")[0] for v in svc["volumes"]
        }
        assert volumes & set(compose_config()["volumes"]), f"{name} keeps its data in no volume"


def test_prometheus_scrapes_the_port_every_worker_and_trainer_serves_on() -> None:
    config = yaml_file(mounted(service("prometheus"), "/etc/prometheus/prometheus.yml"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(SCRAPED)
    for job, services in SCRAPED.items():
        (sd,) = jobs[job]["dns_sd_configs"]  # every replica of a scaled service
        assert sd["type"] == "A" and set(sd["names"]) == set(services)
        for name in services:
            env = environment(service(name))
            assert env["INTERESTS_METRICS_PORT"] == str(sd["port"]), name
            assert env["INTERESTS_METRICS_HOST"] == "0.0.0.0", f"{name} serves loopback only"
            assert "ports" not in service(name) or name != "worker"


def test_grafana_is_provisioned_with_the_datasource_and_dashboard() -> None:
    grafana = service("grafana")
    provisioning = mounted(grafana, "/etc/grafana/provisioning")
    (datasource,) = yaml_file(provisioning / "datasources" / "prometheus.yml")["datasources"]
    prometheus_port = service("prometheus")["ports"][0]
    port = (
        prometheus_port["target"]
        if isinstance(prometheus_port, dict)
        else str(prometheus_port).rsplit(":", 1)[1].split("/")[0]
    )
    assert datasource["url"] == f"http://prometheus:{port}"
    (provider,) = yaml_file(provisioning / "dashboards" / "interests.yml")["providers"]
    dashboards = mounted(grafana, provider["options"]["path"])
    assert (dashboards / DASHBOARD.name).resolve() == DASHBOARD.resolve()
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert used == {datasource["uid"]}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_dashboard_query_names_exported_metrics_and_labels() -> None:
    names = exported()
    covered: set[str] = set()
    for title, expr in queries():
        bare = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
        bare = re.sub(r"\[[^\]]*\]", "", bare)  # nor range selectors ([5m], [$__rate_interval])
        metrics = set(re.findall(r"\binterests_[a-z0-9_]+", bare))
        if re.search(r"\bup\{", expr):  # Prometheus' own: one of its scrape jobs
            assert set(re.findall(r'job="([^"]*)"', expr)) <= set(SCRAPED), expr
            continue
        assert metrics, f"{title}: {expr} reads no interests_ metric"
        unknown = metrics - set(names)
        assert not unknown, f"{title}: {sorted(unknown)} are not exported"
        covered |= metrics
        labels = set(re.findall(r"by \(([^)]*)\)", bare))
        labels = {label.strip() for group in labels for label in group.split(",")}
        labels |= set(re.findall(r"([a-z_]+)=", bare))
        allowed = set().union(*(names[m] for m in metrics)) | {"le", "job"}
        assert labels <= allowed, f"{title}: labels {sorted(labels - allowed)} of {expr}"
        words = set(re.findall(r"\b[a-z_]+\b", bare)) - metrics - labels
        assert words <= PROMQL_WORDS, f"{title}: unknown names {sorted(words - PROMQL_WORDS)}"
    # The headline metrics of the issue all have a panel.
    for needed in (
        "interests_events_applied_total",
        "interests_dead_letters_total",
        "interests_freshness_state_seconds_bucket",
        "interests_freshness_recommendation_seconds_bucket",
        "interests_consumer_lag_messages",
        "interests_redis_roundtrip_seconds_bucket",
        "interests_redis_outage_seconds_total",
        "interests_model_info",
        "interests_model_age_seconds",
        "interests_live_hits_total",
        "interests_live_scored_events_total",
        "interests_trainer_refreshes_total",
        "interests_trainer_validation_ndcg",
        "interests_trainer_refresh_seconds_bucket",
        "interests_trainer_positions_per_second",
    ):
        assert needed in covered, f"no panel shows {needed}"
