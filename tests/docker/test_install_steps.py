"""The images' pip steps, run for real into temporary virtualenvs.

``docker/check-install.sh`` executes each Dockerfile's COPY and install
lines (no Docker needed) and fails when the worker image would get torch or
an NVIDIA package, when the worker, producer or CLI do not import without
torch, or when the CPU trainer would not keep torch's CPU build.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("image", ["worker", "trainer"])
def test_image_install_steps(image: str) -> None:
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    proc = subprocess.run(
        ["bash", "docker/check-install.sh", image],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert "check-install: ok" in proc.stdout, tail
