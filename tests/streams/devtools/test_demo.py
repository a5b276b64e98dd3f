"""``interests demo`` shows the whole product and leaves nothing behind.

A short run on the real embedded broker and redis-server: the trainer
refreshes partway, the recommendations switch to the published version, the
process exits 0 and no process it started is still running.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MARK = "DEMO_TEST_MARK"  # inherited by every process the demo starts


def processes_with(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_short_demo_swaps_model_and_exits_clean(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark}
    workdir = tmp_path / "demo"
    flags = ["--seconds", "20", "--train-after", "8", "--rate", "300", "--users", "60"]
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", "demo", *flags, "--workdir", str(workdir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "how to read the lines below" in out
    published = re.search(r"^refresh: published (\S+):", out, re.M)
    assert published, out
    swap = re.search(r"^swap: recommendations now come from (\S+) \(was (\S+)\)", out, re.M)
    assert swap, out
    assert swap.group(1) == published.group(1)
    assert swap.group(1) != swap.group(2)
    assert re.search(rf"\[{re.escape(swap.group(1))}, long-term \d+%\]", out), out
    assert f"model versions     {swap.group(2)} -> {swap.group(1)}" in out
    rerank = re.search(r"^rerank: POST \S+/rerank for u0 \(likes c\d\): (.*)$", out, re.M)
    assert rerank, out
    ranked = rerank.group(1).split(", ")
    assert len(ranked) == 9 and ranked[-1] == "no-such-item (unknown; kept last)", out
    assert all(re.fullmatch(r"c\d-i0 -?\d+\.\d\d", r) for r in ranked[:-1]), out
    assert f"logs kept in {workdir}" in out
    assert (workdir / "worker.log").exists() and (workdir / "trainer.log").exists()
    assert processes_with(f"{MARK}={mark}") == []
