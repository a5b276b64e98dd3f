"""Surfaces end to end: a real broker, redis-server and worker process, a kill -9,
then the per-surface weights through the read client, ``interests`` and ``POST /rerank``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from state.connection import sync_client
from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from streams.devtools.embedded import EmbeddedServices, free_port, start_worker
from streams.read_side import open_reader
from streams.settings import Settings
from tests.streams.cli.test_cli import interests
from tests.streams.worker.test_rerank_endpoint import post
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
SURFACES = "home,search,product"


def publish_model(settings: Settings, users: list[str]) -> None:
    """Items of three kinds (one axis each); every user's long-term taste is kind 0."""
    rng = np.random.default_rng(1)
    eye = np.eye(DIM, dtype=np.float32)
    vectors = {
        f"i{n}": eye[n % 3] + 0.05 * rng.standard_normal(DIM).astype(np.float32) for n in range(60)
    }
    registry = ModelRegistry(sync_client(settings), KeyLayout(settings.redis_prefix), 3600)
    record = ModelRecord("v1", "0" * 64, "none", list(vectors), {})
    registry.publish(record, vectors, {u: eye[0] for u in users})
    registry.client.close()


def event(n: int, users: int) -> tuple[bytes, bytes, str]:
    """On the home feed (no surface sent) users view kind-0 items, their long-term taste;
    on the search page kind-2 items; now and then a product page."""
    user = f"u{n % users}"
    surface = ("home", "search", "search", "product")[(n // users) % 4]
    kind = {"home": 0, "search": 2, "product": 1}[surface]
    body: dict[str, object] = {
        "user_id": user,
        "type": "view",
        "item_id": f"i{3 * ((n * 7) % 20) + kind}",
        "ts": 1_700_000_000 + n,
        "event_id": f"e{n}",
    }
    if surface != "home":
        body["context"] = {"surface": surface}
    return user.encode(), orjson.dumps(body), surface


def test_surfaces_apply_exactly_once_across_a_kill(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    port = free_port()
    # The priors' signs below are the vector blend's: under fusion (calibrated margins) the
    # search prior ended at +0.016 in one run while every user's search weight stayed
    # below their home weight (benchmarks/results/README.md, "Fusion in the worker").
    settings = isolated_settings(
        services, vector_size=DIM, batch_size=20, surfaces=SURFACES, rerank_port=port,
        blend="vector",
    )  # fmt: skip
    users = [f"u{n}" for n in range(20)]
    publish_model(settings, users)
    messages, expected, last_surface = [], dict.fromkeys(users, 0), {}
    for n in range(640):
        key, value, surface = event(n, len(users))
        messages.append((key, value))
        expected[key.decode()] += 1
        last_surface[key.decode()] = surface
    view = {"user_id": "u0", "type": "view", "item_id": "i0", "ts": 1_700_000_000}
    bad = [
        (b"u0", orjson.dumps({**view, "context": {"surface": "s" * 40}})),
        (b"u0", orjson.dumps({**view, "context": {"surface": "cart"}})),
        (b"u0", orjson.dumps({**view, "context": "search"})),
    ]
    produce(settings, messages[:320] + bad)
    kill_once_applying(settings, users, tmp_path / "worker-1.log")
    produce(settings, messages[320:])
    worker = start_worker(settings, tmp_path / "worker-2.log")
    try:
        wait_until(
            lambda: events_applied(settings, users) == expected,
            timeout=180,
            what="exact counts after the restart",
        )
        wait_until(
            lambda: "rerank on http" in (tmp_path / "worker-2.log").read_text(),
            timeout=30,
            what="the rerank server",
        )
        candidates = ["i0", "i2", "i3", "i5"]  # kind 0, kind 2, kind 0, kind 2
        _, home = post(port, orjson.dumps({"user_id": "u1", "items": candidates}))
        _, search = post(
            port, orjson.dumps({"user_id": "u1", "items": candidates, "surface": "search"})
        )
        bad_status, refused = post(
            port, orjson.dumps({"user_id": "u1", "items": candidates, "surface": "cart"})
        )
        dead = read_topic(settings, settings.topic_dlq, expect=3)
        recs = read_topic(settings, settings.topic_recommendations, expect=len(users))
    finally:
        worker.stop()

    reasons = {str(decode_json(v)["reason"]) for _, v in dead}
    assert reasons == {
        "context.surface longer than 32 characters",
        "unknown surface 'cart' (known: home, search, product)",
        "context must be a JSON object, not str",
    }
    # Each user's last recommendation is for the surface of their last event.
    last_message = {k.decode(): decode_json(v) for k, v in recs if k}
    assert {u: m["surface"] for u, m in last_message.items()} == last_surface

    reader = open_reader(settings)
    try:
        for user_id in users:
            held = reader.get_user(user_id)
            assert held is not None
            weights = held.mix_weights
            assert set(weights) == {"home", "search", "product"}
            # Home follows long-term taste, search follows what the user looks at now.
            assert weights["search"] < weights["home"], (user_id, weights)
    finally:
        reader.close()
    redis = sync_client(settings)
    keys = KeyLayout(settings.redis_prefix)
    assert float(redis.get(keys.surface_prior("search"))) < 0  # type: ignore[arg-type]
    redis.close()

    assert bad_status == 400 and "unknown surface 'cart'" in str(refused["error"])
    assert home["surface"] == "home" and search["surface"] == "search"

    def lead(result: dict[str, object]) -> float:
        """How far the search kind (i2) scores above the home kind (i0)."""
        scores = {i["item_id"]: i["score"] for i in result["items"]}  # type: ignore[attr-defined]
        return float(scores["i2"] - scores["i0"])

    assert lead(search) > lead(home)  # the search page leans to what the user looks at now

    shown = interests(settings, "user", "u1", "--json", "--surface", "search")
    assert shown.returncode == 0, shown.stderr
    body = orjson.loads(shown.stdout)
    assert body["surface"] == "search" and set(body["mix_weights"]) == {"home", "search", "product"}
    ranked = interests(settings, "rerank", "u1", *candidates, "--surface", "search", "--json")
    assert ranked.returncode == 0, ranked.stderr
    assert [i["item_id"] for i in orjson.loads(ranked.stdout)["items"]] == [
        i["item_id"] for i in search["items"]
    ]
    unknown = interests(settings, "user", "u1", "--surface", "cart")
    assert unknown.returncode == 2 and "unknown surface 'cart'" in unknown.stderr
