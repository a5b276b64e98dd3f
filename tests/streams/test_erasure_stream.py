"""Erasure that sticks, end to end: a worker on the embedded broker, ``interests
forget`` mid-stream, then new events; the user holds exactly the new ones."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.read_side import open_reader
from streams.settings import Settings
from tests.support.harness import events_applied, isolated_settings, produce, wait_until

pytestmark = pytest.mark.slow

GONE = "gone"
OTHERS = [f"u{i}" for i in range(4)]


def interests(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**settings.as_env(), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _events(users: list[str], rounds: int, tag: str) -> list[tuple[bytes, bytes]]:
    """``rounds`` events per user, interleaved, item ids ``<tag>-<round>``."""
    now = time.time() - 3600
    out = []
    for r in range(rounds):
        for user_id in users:
            body = {"user_id": user_id, "item_id": f"{tag}-{r}", "type": "view", "ts": now + r}
            out.append((user_id.encode(), orjson.dumps(body)))
    return out


def _user(settings: Settings, user_id: str) -> dict[str, Any]:
    shown = interests(settings, "user", user_id, "--json")
    assert shown.returncode == 0, shown.stderr
    body: dict[str, Any] = orjson.loads(shown.stdout)
    return body


def _history(settings: Settings, user_id: str) -> list[str]:
    reader = open_reader(settings)
    try:
        items: list[bytes] = reader.client.lrange(reader.keys.history(user_id), 0, -1)  # type: ignore[assignment]
        return [i.decode() for i in items]
    finally:
        reader.close()


def _wait_for(settings: Settings, last_item: str, others: int) -> None:
    """Until the user's last event and every other user's ``others`` events are applied:
    a partition is applied in order, so every earlier event of the user was decided."""

    def caught_up() -> bool:
        recent = _user(settings, GONE).get("recent_items") or []
        counts = events_applied(settings, OTHERS)
        return bool(recent) and recent[0] == last_item and set(counts.values()) == {others}

    wait_until(caught_up, timeout=90, what=f"{last_item} and {others} events per user")
    time.sleep(1.0)  # anything still in flight for the user would land now


def _assert_holds_only(settings: Settings, items: list[str]) -> None:
    gone = _user(settings, GONE)
    assert gone["events_applied"] == len(items)
    assert gone["recent_items"] == items[::-1]
    assert gone["long_term"] is None
    assert _history(settings, GONE) == items


def test_forget_mid_stream_keeps_only_the_events_that_came_after(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(services)
    produce(settings, _events([GONE, *OTHERS], 300, "old"))
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: events_applied(settings, [GONE])[GONE] > 0, timeout=90, what="first events"
        )
        forgot = interests(settings, "forget", GONE)  # while the worker is at work
        assert forgot.returncode == 0, forgot.stderr
        produce(settings, _events([GONE, *OTHERS], 15, "new"))
        _wait_for(settings, "new-14", 315)
    finally:
        worker.stop()
    _assert_holds_only(settings, [f"new-{r}" for r in range(15)])

    # Events in the log but not yet consumed when the user is forgotten (no worker
    # running) are never applied; those produced after the erasure are.
    produce(settings, _events([GONE, *OTHERS], 10, "late"))
    assert interests(settings, "forget", GONE).returncode == 0
    produce(settings, _events([GONE, *OTHERS], 5, "after"))
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        _wait_for(settings, "after-4", 330)
    finally:
        worker.stop()
    _assert_holds_only(settings, [f"after-{r}" for r in range(5)])
