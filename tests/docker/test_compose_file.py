"""Structural checks of the local cluster's compose file (docker/docker-compose.yml).

The first test asks the real ``docker-compose`` tool to resolve the file (no Docker
daemon is needed for ``config``); the second only parses the YAML, so it runs
everywhere PyYAML is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

COMPOSE_FILE = Path("docker") / "docker-compose.yml"
SERVICES = ("kafka", "redis", "worker", "producer")


def _command_text(command: Any) -> str:
    """A service's ``command`` as one string, whether written as a list or a string."""
    if isinstance(command, list):
        return " ".join(str(part) for part in command)
    return str(command)


def _env_dict(environment: Any) -> dict[str, str]:
    """A service's ``environment`` as a dict, whether written as a mapping or a list."""
    if isinstance(environment, dict):
        return {str(k): str(v) for k, v in environment.items()}
    result: dict[str, str] = {}
    for item in environment or []:
        key, _, value = str(item).partition("=")
        result[key] = value
    return result


def _check_structure(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in SERVICES:
        assert name in services, f"service {name!r} missing from {COMPOSE_FILE}"
    worker = services["worker"]
    assert "container_name" not in worker, "a container_name would break --scale worker=N"
    assert "ports" not in worker, "host ports would break --scale worker=N"
    assert "--appendonly yes" in _command_text(services["redis"]["command"])


def test_docker_compose_config_resolves() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed; cannot run `docker-compose config`")
    proc = subprocess.run(
        [exe, "-f", str(COMPOSE_FILE), "config"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"docker-compose config failed:\n{proc.stderr}"
    try:
        import yaml
    except ImportError:
        return  # the tool accepted the file; structural checks need PyYAML
    config = yaml.safe_load(proc.stdout)
    _check_structure(config)


def test_compose_file_structure() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((REPO_ROOT / COMPOSE_FILE).read_text(encoding="utf-8"))
    _check_structure(config)
    kafka_env = _env_dict(config["services"]["kafka"].get("environment"))
    assert "controller" in kafka_env.get("KAFKA_PROCESS_ROLES", ""), "Kafka must run in KRaft mode"
    worker_env = _env_dict(config["services"]["worker"].get("environment"))
    assert worker_env.get("INTERESTS_KAFKA_BOOTSTRAP") == "kafka:9092"
    assert worker_env.get("INTERESTS_REDIS_URL", "").startswith("redis://redis:6379")


def test_trainer_reserves_an_nvidia_gpu() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((REPO_ROOT / "docker" / "docker-compose.yml").read_text())
    trainer = compose["services"]["trainer"]
    devices = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert trainer["command"] == ["trainer"]
