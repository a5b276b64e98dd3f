"""Search events: validated, placed by the model's content projection, applied once."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest

from models.cold_start import cold_start_vectors
from state.codec import encode_vector
from streams.settings import Settings
from streams.worker.events import EventRules, Rejection, decode_event
from streams.worker.interest_updater import Incoming, InterestUpdater
from tests.support.memory_store import MemoryStore

TOPIC = "interactions"
RULES = EventRules(frozenset({"view", "search"}))
DIM = 8


def message(offset: int, user: str = "u1", **body: object) -> Incoming:
    full = {"user_id": user, "ts": 1000.0 + offset, **body}
    return Incoming(TOPIC, 0, offset, orjson.dumps(full), user.encode())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "search"}, "search event without a query"),
        ({"type": "search", "query": "   "}, "empty query"),
        ({"type": "search", "query": 5}, "query must be a string, not int"),
        ({"type": "search", "query": "x" * 513}, "query longer than 512 characters"),
    ],
)
def test_a_bad_search_is_rejected_with_its_reason(body: dict[str, object], reason: str) -> None:
    raw = orjson.dumps({"user_id": "u", "ts": 1.0, **body})
    assert decode_event(raw, RULES, now=10.0) == Rejection(reason)


def test_a_search_needs_no_item_and_round_trips() -> None:
    raw = b'{"user_id": "u", "type": "search", "query": " red  shoes ", "ts": 1.0}'
    event = decode_event(raw, RULES, now=10.0)
    assert not isinstance(event, Rejection)
    assert (event.query, event.item_id, event.is_item) == ("red shoes", "", False)
    assert decode_event(event.to_json(), RULES, now=10.0) == event


def catalogue() -> tuple[dict[str, dict[str, object]], dict[str, np.ndarray]]:
    """Two kinds of items with titles; their vectors point two different ways."""
    rng = np.random.default_rng(0)
    catalog, vectors = {}, {}
    for n in range(40):
        red = n < 20
        catalog[f"i{n}"] = {"title": f"red running shoe {n}" if red else f"blue woollen hat {n}"}
        base = np.eye(DIM, dtype=np.float32)[0 if red else 1]
        vectors[f"i{n}"] = base + 0.05 * rng.standard_normal(DIM).astype(np.float32)
    return catalog, vectors


def updater_with_model() -> tuple[InterestUpdater, MemoryStore]:
    catalog, vectors = catalogue()
    projection, _ = cold_start_vectors(catalog, vectors)
    assert projection is not None
    store = MemoryStore()
    store.version = "v1"
    store.items["v1"] = {i: encode_vector(v) for i, v in vectors.items()}
    store.projections["v1"] = projection.to_bytes()
    settings = Settings.from_env(
        {}, vector_size=DIM, top_k=5, text_model="hashed", redis_retry_max_s=0.01
    )
    return InterestUpdater(settings, store), store


def apply(updater: InterestUpdater, batches: list[list[Incoming]]) -> None:
    async def go() -> None:
        await updater.start()
        for batch in batches:
            await updater.apply(batch)

    asyncio.run(go())


def test_a_search_moves_short_term_interest_towards_the_query() -> None:
    views = [message(n, type="view", item_id=f"i{n}") for n in range(3)]
    plain, plain_store = updater_with_model()
    apply(plain, [views])
    searched, store = updater_with_model()
    apply(searched, [[*views, message(3, type="search", query="blue woollen hat")]])
    before = plain_store.users["u1"].short_term
    after = store.users["u1"].short_term
    assert before is not None and after is not None
    # The hats' direction (axis 1) gains; the user's own items are not forgotten.
    assert after[1] / np.linalg.norm(after) > before[1] / np.linalg.norm(before) + 0.2
    assert after[0] > 0
    user = store.users["u1"]
    assert user.events_applied == 4
    assert user.recent_items == ["i2", "i1", "i0"]  # a query is no item
    assert user.last_offset == "3"
    assert searched.searches.placed == 1
    assert store.histories["u1"] == ["i0", "i1", "i2"]  # the trainer learns from items only


def test_a_user_whose_first_event_is_a_search_is_placed_by_it() -> None:
    updater, store = updater_with_model()
    apply(updater, [[message(0, user="new", type="search", query="red running shoes")]])
    user = store.users["new"]
    assert user.events_applied == 1 and user.short_term is not None
    assert user.last_event_ts == 1000.0
    assert int(np.argmax(user.short_term)) == 0
    recommended = orjson.loads(user.shown or b"{}")["items"]
    assert all(int(r["item_id"][1:]) < 20 for r in recommended)  # red shoes first


def test_a_replayed_search_is_not_applied_again() -> None:
    updater, store = updater_with_model()
    batch = [message(0, type="search", query="red running shoes")]
    apply(updater, [batch, batch])
    assert store.users["u1"].events_applied == 1
    assert updater.searches.placed == 1


def test_without_a_projection_a_search_counts_but_moves_nothing() -> None:
    settings = Settings.from_env({}, vector_size=DIM, text_model="hashed")
    store = MemoryStore()
    updater = InterestUpdater(settings, store)
    apply(updater, [[message(0, type="view", item_id="a"), message(1, type="search", query="q")]])
    assert store.users["u1"].events_applied == 2
    assert updater.searches.unplaced == 1


def test_a_new_catalogue_item_is_placed_by_a_projection_fitted_with_text() -> None:
    """A worker without the sentence model still places items when the trainer had it."""
    from models.content_projection import ContentProjection
    from models.text_encoder import HASHED_FEATURES

    catalog, vectors = catalogue()
    projection, _ = cold_start_vectors(catalog, vectors)
    assert projection is not None
    rng = np.random.default_rng(0)
    text_rows = 0.01 * rng.standard_normal((384, DIM)).astype(np.float32)
    wide = ContentProjection(np.vstack([projection.weights, text_rows]), 40)
    assert wide.n_features == HASHED_FEATURES + 384
    updater, store = updater_with_model()
    store.projections["v1"] = wide.to_bytes()
    entry = {"item_id": "new-hat", "title": "blue woollen hat", "description": "warm"}

    async def go() -> None:
        await updater.start()
        await updater.add_catalog([Incoming("items", 0, 0, orjson.dumps(entry), b"new-hat")])

    asyncio.run(go())
    assert int(np.argmax(updater.items.vector("new-hat"))) == 1  # with the hats
    assert "new-hat" in store.items["v1"]
