"""The local cluster's compose file and images, checked without Docker.

The compose file is resolved by the real ``docker-compose config`` where it is
installed (``WITH_COMPOSE=1 scripts/setup``), else read with PyYAML (which
resolves its anchors the same way). Each test checks a way the cluster breaks
for real: a trainer that writes where no volume keeps it or as a user who may
not, a GPU reservation that makes ``up`` fail without the NVIDIA toolkit,
state lost on ``down``, torch creeping into the worker image, a port open
beyond loopback. ``test_install_steps.py`` runs the images' pip steps.
"""

from __future__ import annotations

import base64
import fnmatch
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

COMPOSE_FILE = Path("docker") / "docker-compose.yml"
WORKER_IMAGE_SERVICES = ("worker", "producer")
TRAINERS = ("trainer", "trainer-gpu")


@cache
def compose_config() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    exe = shutil.which("docker-compose")
    if exe is None:
        text = (REPO_ROOT / COMPOSE_FILE).read_text(encoding="utf-8")
    else:
        proc = subprocess.run(
            [exe, "-f", str(COMPOSE_FILE), "config"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, f"docker-compose config failed:\n{proc.stderr}"
        text = proc.stdout
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = compose_config()["services"]
    return services[name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(str(item).partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def volume_mounts(svc: dict[str, Any]) -> dict[str, str]:
    """Named volumes by the path they are mounted at."""
    mounts = {}
    for volume in svc.get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume["source"], volume["target"]
        else:
            source, target = str(volume).split(":")[:2]
        mounts[target] = source
    return mounts


def build_args(svc: dict[str, Any]) -> dict[str, str]:
    args = svc["build"].get("args") or {}
    if isinstance(args, list):
        return dict(str(item).partition("=")[::2] for item in args)
    return {str(k): str(v) for k, v in args.items()}


def dockerfile_of(svc: dict[str, Any]) -> Path:
    return REPO_ROOT / str(svc["build"]["dockerfile"])


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def arg_defaults(dockerfile: Path) -> dict[str, str]:
    return dict(a.partition("=")[::2] for op, a in instructions(dockerfile) if op == "ARG")


def run_steps(dockerfile: Path) -> list[str]:
    return [args for op, args in instructions(dockerfile) if op == "RUN"]


def runtime_uid(dockerfile: Path) -> str:
    users = [args for op, args in instructions(dockerfile) if op == "USER"]
    assert users, f"{dockerfile.name} runs as root"
    return users[-1].split(":")[0]


def test_compose_up_needs_no_nvidia_toolkit() -> None:
    for name, svc in compose_config()["services"].items():
        if svc.get("profiles"):
            continue
        assert svc.get("runtime") != "nvidia", name
        devices = svc.get("deploy", {}).get("resources", {}).get("reservations", {})
        assert not devices.get("devices"), f"{name} reserves a device on every `up`"


def test_the_gpu_trainer_is_opt_in_and_gets_the_cuda_build() -> None:
    gpu = service("trainer-gpu")
    assert gpu["profiles"] == ["gpu"]
    reservation = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert reservation["driver"] == "nvidia" and "gpu" in reservation["capabilities"]
    assert build_args(gpu)["TORCH_VARIANT"] == "cuda"
    # The default trainer, and the Dockerfile's own default, are the CPU build.
    assert build_args(service("trainer"))["TORCH_VARIANT"] == "cpu"
    assert arg_defaults(dockerfile_of(service("trainer")))["TORCH_VARIANT"] == "cpu"
    assert service("trainer")["image"] != gpu["image"], "one tag would hold either build"


def test_both_trainers_write_one_model_store_as_its_owner() -> None:
    stores = set()
    for name in TRAINERS:
        svc = service(name)
        model_dir = environment(svc)["INTERESTS_MODEL_DIR"]
        mounts = volume_mounts(svc)
        assert model_dir in mounts, f"{name} keeps models where no volume keeps them"
        assert mounts[model_dir] in compose_config()["volumes"], f"{name}: not a named volume"
        stores.add((mounts[model_dir], model_dir))
        # A new named volume takes the owner of the image's folder: the process's uid.
        dockerfile = dockerfile_of(svc)
        uid = runtime_uid(dockerfile)
        assert uid.isdigit() and uid != "0", f"{dockerfile.name}: USER is not a non-root uid"
        setup = " && ".join(run_steps(dockerfile))
        assert f"mkdir -p {model_dir}" in setup, f"{dockerfile.name} does not create {model_dir}"
        assert f"chown {uid}:{uid} {model_dir}" in setup, f"{model_dir} is not owned by {uid}"
    assert len(stores) == 1, f"the trainers use different model stores: {stores}"


def test_kafka_and_redis_keep_their_data_across_down_and_up() -> None:
    kafka = service("kafka")
    env = environment(kafka)
    assert volume_mounts(kafka).get(env["KAFKA_LOG_DIRS"]) in compose_config()["volumes"]
    # KRaft formats its log for one cluster id; a random or invalid one breaks `up` again.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    redis = service("redis")
    assert volume_mounts(redis).get("/data") in compose_config()["volumes"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_published_ports_are_loopback_only() -> None:
    published = []
    for name, svc in compose_config()["services"].items():
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published.append(name)
    # Kafka and Redis; Prometheus and Grafana with `--profile monitoring`.
    assert sorted(published) == ["grafana", "kafka", "prometheus", "redis"]


def test_worker_and_producer_images_never_install_torch() -> None:
    for name in WORKER_IMAGE_SERVICES:
        svc = service(name)
        assert "container_name" not in svc and "ports" not in svc, f"{name} cannot scale"
        dockerfile = dockerfile_of(svc)
        steps = run_steps(dockerfile)
        installs = [shlex.split(s) for s in steps if "install.sh" in s]
        assert installs == [["sh", "docker/install.sh", "project"]], (
            f"{dockerfile.name}: the project without extras is its only install step"
        )
        assert not any("torch" in step or "pip " in step for step in steps), steps
    assert service("worker")["image"] == service("producer")["image"]


def test_dockerignore_keeps_what_the_images_copy_and_drops_the_rest() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, p.removeprefix("**/")) or fnmatch.fnmatch(prefix, p)
            for p in patterns
            for prefix in prefixes
        )

    for dockerfile in (REPO_ROOT / "docker").glob("Dockerfile*"):
        for op, args in instructions(dockerfile):
            if op != "COPY":
                continue
            *sources, _ = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                assert (REPO_ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
                assert not ignored(source.rstrip("/")), f".dockerignore drops {source}"
    for heavy in (".git", ".venv", "tests", "model-store"):
        assert ignored(heavy), f"{heavy} would be sent to the Docker daemon"


def test_the_cluster_profile_forms_three_primaries_and_is_opt_in() -> None:
    services = compose_config()["services"]
    nodes = [f"redis-c{n}" for n in (1, 2, 3)]
    for name in nodes:
        svc = services[name]
        assert svc["profiles"] == ["cluster"] and not svc.get("ports"), name
        command = " ".join(svc["command"])
        assert "--cluster-enabled yes" in command and "--appendonly yes" in command, name
        assert volume_mounts(svc).get("/data") in compose_config()["volumes"], name
    init = services["redis-cluster-init"]
    assert init["profiles"] == ["cluster"] and set(init["depends_on"]) == set(nodes)
    script = " ".join(init["command"])
    assert "--cluster create" in script and "--cluster-replicas 0" in script
    assert all(f"getent hosts {n}" in script for n in nodes)
    # The URL is the only switch: the services detect a cluster from the server.
    worker_url = environment(services["worker"])["INTERESTS_REDIS_URL"]
    assert "INTERESTS_REDIS_URL" in worker_url or worker_url == "redis://redis:6379/0"
