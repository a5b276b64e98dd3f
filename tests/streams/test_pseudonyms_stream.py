"""Pseudonymised user ids, end to end: a worker process on the embedded broker and its
own redis-server, a trainer refresh, then every key and value in Redis, both output
topics, /metrics and the worker's log hold no raw user id; the read client and the
CLI still find users by their raw id, and ``forget`` erases them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from state.keys import Field, KeyLayout
from state.pseudonym import Pseudonyms
from streams.devtools.embedded import (
    EmbeddedServices,
    ManagedProcess,
    free_port,
    start_redis,
    start_worker,
)
from streams.devtools.synthetic import DriftConfig, DriftingUsers
from streams.settings import Settings
from streams.trainer.service import Trainer
from tests.support.harness import (
    events_applied,
    isolated_settings,
    produce,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.slow

MARK = b"@example.org"
"""Every raw user id is an e-mail address at example.org; no pseudonym or item id has it."""
KEY = b"k" * 8 + b"\x00\xffpseudonym-test-key\n"


def _raw(user_id: str) -> str:
    return f"person.{user_id}@example.org"


def _stream(events: int, seed: int) -> tuple[list[tuple[bytes, bytes]], Counter[str]]:
    source = DriftingUsers(DriftConfig(users=30, seed=seed))
    messages, counts = [], Counter[str]()
    for synthetic in source.take(events):
        event = dataclasses.replace(synthetic.event, user_id=_raw(synthetic.event.user_id))
        messages.append((event.user_id.encode(), event.to_json()))
        counts[event.user_id] += 1
    return messages, counts


def _interests(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli.main", *args],
        env={**settings.as_env(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _everything_in_redis(client: redis.Redis) -> list[bytes]:
    """Every key and every value (hash fields, list, set and stream members) of the server."""
    out: list[bytes] = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"string":
            out.append(client.get(key) or b"")  # type: ignore[arg-type]
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():  # type: ignore[union-attr]
                out += [field, value]
        elif kind == b"list":
            out += client.lrange(key, 0, -1)  # type: ignore[operator]
        elif kind == b"set":
            out += client.smembers(key)  # type: ignore[arg-type]
        elif kind == b"zset":
            out += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]  # type: ignore[union-attr]
        elif kind == b"stream":  # the item change log: entry fields and values
            for _, fields in client.xrange(key):  # type: ignore[union-attr]
                for field, value in fields.items():
                    out += [field, value]
        else:
            raise AssertionError(f"unexpected type {kind!r} of {key!r}")
    return out


def test_no_raw_user_id_reaches_redis_or_the_outputs(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    key_file = tmp_path / "user-id.key"
    key_file.write_bytes(KEY)
    (tmp_path / "redis").mkdir()
    own_redis: ManagedProcess = start_redis(tmp_path / "redis")  # SCAN sees only this test
    try:
        _run(services, tmp_path, key_file, f"redis://127.0.0.1:{own_redis.port}/0")
    finally:
        own_redis.stop()


def _run(services: EmbeddedServices, tmp_path: Path, key_file: Path, redis_url: str) -> None:
    settings = isolated_settings(
        services,
        redis_url=redis_url,
        user_id_key_file=str(key_file),
        vector_size=16,
        trainer_epochs=2,
        trainer_max_len=20,
        trainer_gate_slack=1.0,  # a publication is what this needs, not the gate's verdict
        model_dir=str(tmp_path / "models"),
        model_poll_s=0.2,
        metrics_port=free_port(),
    )
    pseudonym = Pseudonyms(KEY.removesuffix(b"\n"))
    first, counts = _stream(2000, seed=3)
    mismatch = orjson.dumps(
        {"user_id": _raw("u0"), "item_id": "c0-i0", "type": "view", "ts": time.time()}
    )
    produce(settings, [*first, (_raw("u1").encode(), mismatch)])
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path)
    try:
        users = sorted(counts)
        wait_until(  # the read client takes raw ids
            lambda: events_applied(settings, users) == dict(counts), 120, "the first part"
        )
        outcome = Trainer(settings).refresh_once()  # histories in, long-term vectors out
        assert outcome.published is not None, outcome.result
        wait_until(lambda: f"-> {outcome.published}" in log_path.read_text(), 60, "the model swap")
        second, more = _stream(1000, seed=4)
        produce(settings, second)
        counts += more
        wait_until(lambda: events_applied(settings, users) == dict(counts), 120, "the second part")
        with urllib.request.urlopen(
            f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=10
        ) as page:
            metrics = page.read()
    finally:
        worker.stop()

    # Redis: every key and value of the server, the trainer's writes included.
    client = redis.Redis.from_url(redis_url)
    try:
        held = _everything_in_redis(client)
        keys = KeyLayout(settings.redis_prefix)
        assert all(client.exists(keys.user(pseudonym(u))) for u in counts)
        assert all(client.exists(keys.history(pseudonym(u))) for u in counts)
        assert client.hget(keys.user(pseudonym(_raw("u0"))), Field.LONG_TERM) is not None
    finally:
        client.close()
    assert len(held) > 1000
    assert [v for v in held if MARK in v or b"person." in v] == []

    # Outputs: keyed and labelled by pseudonym only.
    pseudonyms = {pseudonym(u).encode() for u in counts}
    recs = read_topic(settings, settings.topic_recommendations, expect=len(counts))
    shifts = read_topic(settings, settings.topic_interest_shifts, expect=1, timeout=5)
    assert recs
    for key, value in recs + shifts:
        assert key in pseudonyms and value is not None and MARK not in value
        assert orjson.loads(value)["user_id"] == key.decode()
    assert MARK not in metrics and b"interests_events_applied" in metrics
    assert MARK not in log_path.read_bytes()
    # The one exception, by design: a dead letter is the rejected input, raw.
    letters = read_topic(settings, settings.topic_dlq, expect=1, timeout=10)
    assert [k for k, _ in letters] == [_raw("u1").encode()]

    # The CLI takes the raw id; without the key it finds nobody.
    someone = _raw("u3")
    shown = _interests(settings, "user", someone, "--json")
    assert shown.returncode == 0, shown.stderr
    body: dict[str, Any] = orjson.loads(shown.stdout)
    assert body["user_id"] == someone and body["events_applied"] == counts[someone]
    keyless = _interests(settings.replace(user_id_key_file=""), "user", someone, "--json")
    assert orjson.loads(keyless.stdout)["events_applied"] == 0

    forgot = _interests(settings, "forget", someone)
    assert forgot.returncode == 0, forgot.stderr
    assert MARK.decode() in forgot.stdout  # the operator's own input, echoed
    assert (
        orjson.loads(_interests(settings, "user", someone, "--json").stdout)["events_applied"] == 0
    )
    client = redis.Redis.from_url(redis_url)
    try:
        left = [k for k in client.scan_iter(match=f"*{pseudonym(someone)}*")]
        assert left == [KeyLayout(settings.redis_prefix).erasure(pseudonym(someone)).encode()]
        assert [v for v in _everything_in_redis(client) if MARK in v] == []
    finally:
        client.close()
    tombstones = [
        k
        for k, v in read_topic(settings, settings.topic_recommendations, expect=len(recs) + 1)
        if v is None
    ]
    assert tombstones == [pseudonym(someone).encode()]
