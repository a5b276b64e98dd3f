"""Search events end to end: a real broker, redis-server and worker process, a kill -9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from models.cold_start import cold_start_vectors
from models.text_encoder import load_text_encoder
from state.connection import sync_client
from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from streams.devtools.embedded import EmbeddedServices, start_worker
from streams.read_side import open_reader
from tests.support.harness import (
    decode_json,
    events_applied,
    isolated_settings,
    kill_once_applying,
    produce,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.slow
DIM = 16
KINDS = ("red running shoe", "blue woollen hat", "green garden chair")


def publish_model(settings: object, text_model: str = "auto") -> None:
    """A version with item vectors (one direction per kind) and a content projection
    fitted on the items' titles, as the trainer publishes (with the text model when
    the ``[text]`` extra is installed)."""
    rng = np.random.default_rng(1)
    catalog, vectors = {}, {}
    for n in range(60):
        kind = n % 3
        catalog[f"i{n}"] = {"title": f"{KINDS[kind]} {n}", "description": "in stock"}
        base = np.eye(DIM, dtype=np.float32)[kind]
        vectors[f"i{n}"] = base + 0.05 * rng.standard_normal(DIM).astype(np.float32)
    projection, _ = cold_start_vectors(catalog, vectors, encoder=load_text_encoder(text_model))
    assert projection is not None
    registry = ModelRegistry(
        sync_client(settings),  # type: ignore[arg-type]
        KeyLayout(settings.redis_prefix),  # type: ignore[attr-defined]
        3600,
    )
    record = ModelRecord("v1", "0" * 64, "none", list(vectors), {})
    registry.publish(record, vectors, {}, projection.to_bytes())
    registry.client.close()


def test_searches_apply_exactly_once_across_a_kill(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    settings = isolated_settings(services, vector_size=DIM, batch_size=20)
    publish_model(settings)
    messages: list[tuple[bytes, bytes]] = []
    expected: dict[str, int] = {}
    for n in range(600):
        user = f"u{n % 30}"
        body: dict[str, object] = {"user_id": user, "ts": 1_700_000_000 + n, "event_id": f"e{n}"}
        if n % 4 == 3:  # n odd: users u1, u3, ... only
            body |= {"type": "search", "query": f"{KINDS[2]}s"}  # odd users look for chairs
        else:
            body |= {"type": "view", "item_id": f"i{3 * (n % 20)}"}  # shoes only
        messages.append((user.encode(), orjson.dumps(body)))
        expected[user] = expected.get(user, 0) + 1
    bad = [
        (b"u0", b'{"user_id": "u0", "type": "search", "ts": 1700000000}'),
        (b"u1", orjson.dumps({"user_id": "u1", "type": "search", "query": "", "ts": 1.0})),
    ]
    produce(settings, messages[:300] + bad)
    users = sorted(expected)
    kill_once_applying(settings, users, tmp_path / "worker-1.log")
    produce(settings, messages[300:])
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        wait_until(
            lambda: events_applied(settings, users) == expected,
            timeout=180,
            what="exact counts after the restart",
        )
        dead = read_topic(settings, settings.topic_dlq, expect=2)
    finally:
        worker.stop()
    reasons = {str(decode_json(v)["reason"]) for _, v in dead}
    assert reasons == {"search event without a query", "empty query"}
    reader = open_reader(settings)
    chairs: dict[bool, list[float]] = {True: [], False: []}
    try:
        for user_id in users:
            state = reader.get_user(user_id)
            assert state is not None and state.short_term is not None
            assert all(int(i[1:]) % 3 == 0 for i in state.recent_items)  # queries are no items
            unit = state.short_term / np.linalg.norm(state.short_term)
            chairs[int(user_id[1:]) % 2 == 1].append(float(unit[2]))
    finally:
        reader.close()
    # Views were all shoes (axis 0); the searches pulled the searchers towards chairs (axis 2).
    assert min(chairs[True]) > max(chairs[False]), chairs
