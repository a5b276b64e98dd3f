"""Per-surface mix weights on a real redis-server: the store's field and priors, the reader."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from state import InterestReader, SharedWrite, StoredUser, UserStateStore, UserWrite
from state.codec import encode_vector
from state.connection import RedisEndpoint, sync_client
from state.keys import Field, KeyLayout
from state.user_store import decode_surface_mix, encode_surface_mix, surface_mix_entries
from streams.devtools.embedded import EmbeddedServices

SURFACES = ("home", "search", "product")
DIM = 4


def _write(before: StoredUser, offset: int, surface_mix: bytes) -> UserWrite:
    return UserWrite(
        before=before,
        short_term=np.ones(DIM, np.float32),
        last_event_ts=1.0,
        events_applied=before.events_applied + 1,
        recent_items=["a"],
        topic="interactions",
        partition=0,
        offset=offset,
        model_version="online",
        recommendations=b"{}",
        mix_offset=0.5,
        mix_weight=0.6,
        surface_mix=surface_mix,
    )


def test_the_store_keeps_surface_offsets_and_shares_surface_priors(
    services: EmbeddedServices,
) -> None:
    keys = KeyLayout(f"t{uuid.uuid4().hex[:8]}:")

    async def scenario() -> None:
        store = UserStateStore.from_url(services.redis_url, keys, DIM, 60, 10)
        try:
            await store.prepare()
            fresh = (await store.load_users(["u"]))["u"]
            assert fresh.surface_mix == {}
            field = encode_surface_mix({"search": -0.75}, {"search": 0.3})
            shared = SharedWrite("online", surface_prior_deltas={"search": -0.25})
            outcome = await store.write([_write(fresh, 1, field)], shared)
            assert outcome.committed == [True] and outcome.surface_priors == {"search": -0.25}
            stored = (await store.load_users(["u"], shown=True))["u"]
            assert stored.surface_mix == {"search": -0.75} and stored.mix_offset == 0.5
            assert stored.shown == b"{}"  # the field before it is still where it was
            # A write without the field leaves it as it is; priors add up across writes.
            again = SharedWrite("online", surface_prior_deltas={"search": -0.5, "product": 1.0})
            outcome = await store.write([_write(stored, 2, b"")], again)
            assert outcome.surface_priors == {"search": -0.75, "product": 1.0}
            assert (await store.load_users(["u"]))["u"].surface_mix == {"search": -0.75}
            priors = await store.load_surface_priors(["search", "product", "other"])
            assert priors == {"search": -0.75, "product": 1.0, "other": 0.0}
        finally:
            await store.aclose()

    asyncio.run(scenario())


def _seed_user(client: object, keys: KeyLayout, recommendations: dict[str, object]) -> None:
    """A user whose long-term taste is item ``a`` and short-term taste item ``b``; weight
    0.9 on the home feed, 0.1 on the search page, never on a product page."""
    eye = np.eye(DIM, dtype=np.float32)
    client.hset(  # type: ignore[attr-defined]
        keys.user("u"),
        mapping={
            Field.SHORT_TERM: encode_vector(eye[1]),
            Field.LONG_TERM: encode_vector(eye[0]),
            Field.LONG_TERM_VERSION: "online",
            Field.MODEL_VERSION: "online",
            Field.MIX_WEIGHT: "0.9",
            Field.MIX_OFFSET: "2.2",
            Field.SURFACE_MIX: encode_surface_mix({"search": -2.2}, {"search": 0.1}),
            Field.RECENT_ITEMS: orjson.dumps([]),
            Field.EVENTS_APPLIED: "3",
            Field.RECOMMENDATIONS: orjson.dumps(recommendations),
        },
    )
    client.hset(  # type: ignore[attr-defined]
        keys.items("online"), mapping={"a": encode_vector(eye[0]), "b": encode_vector(eye[1])}
    )
    client.set(keys.surface_prior("product"), "1.0")  # type: ignore[attr-defined]


def test_the_reader_gives_weights_and_lists_per_surface(services: EmbeddedServices) -> None:
    keys = KeyLayout(f"t{uuid.uuid4().hex[:8]}:")
    client = sync_client(RedisEndpoint(services.redis_url))
    latest = {"items": [{"item_id": "a", "score": 1.0}, {"item_id": "b", "score": 0.5}]}
    _seed_user(client, keys, {**latest, "surface": "home"})
    reader = InterestReader(client, keys, surfaces=SURFACES)
    try:
        held = reader.get_user("u")
        assert held is not None and held.surface == "home"
        body = held.to_json()
        assert body["mix_weights"] == {
            "home": 0.9,
            "search": 0.1,
            "product": pytest.approx(0.731, abs=1e-3),
        }
        assert body["surface"] == "home" and body["recommendations"] == ["a", "b"]
        # The list for the search page: the latest list in the search weight's order.
        on_search = reader.get_user("u", "search")
        assert on_search is not None and on_search.surface == "search"
        assert [r["item_id"] for r in on_search.recommendations] == ["b", "a"]
        assert reader.recommendations_for("u", "search") == ["b", "a"]
        assert reader.recommendations_for("u", "home") == ["a", "b"]
        # Re-ranking takes the surface's weight; the default surface is the default.
        assert [i["item_id"] for i in reader.rerank("u", ["b", "a"])["items"]] == ["a", "b"]
        searched = reader.rerank("u", ["a", "b"], surface="search")
        assert searched["surface"] == "search"
        assert [i["item_id"] for i in searched["items"]] == ["b", "a"]
        product = reader.rerank("u", ["b", "a"], surface="product")  # the prior, 0.73
        assert [i["item_id"] for i in product["items"]] == ["a", "b"]
        with pytest.raises(ValueError, match="unknown surface 'cart'"):
            reader.rerank("u", ["a"], surface="cart")
    finally:
        reader.close()


def test_a_list_made_before_surfaces_is_the_default_surfaces(services: EmbeddedServices) -> None:
    keys = KeyLayout(f"t{uuid.uuid4().hex[:8]}:")
    client = sync_client(RedisEndpoint(services.redis_url))
    _seed_user(client, keys, {"items": [{"item_id": "a", "score": 1.0}]})
    reader = InterestReader(client, keys)  # one surface, the default "home"
    try:
        held = reader.get_user("u")
        assert held is not None and held.surface == "home"
        assert held.mix_weights == {"home": 0.9}
    finally:
        reader.close()


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,31}", fullmatch=True),
        st.tuples(
            st.floats(-50, 50, allow_nan=False), st.floats(0, 1, exclude_min=True, exclude_max=True)
        ),
        max_size=16,
    )
)
def test_the_surface_mix_field_round_trips(entries: dict[str, tuple[float, float]]) -> None:
    raw = encode_surface_mix(
        {s: o for s, (o, _) in entries.items()}, {s: w for s, (_, w) in entries.items()}
    )
    assert surface_mix_entries(raw) == entries
    assert decode_surface_mix(raw) == {s: o for s, (o, _) in entries.items()}


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1]", b'{"s": 1}', b'{"s": {"offset": "x"}}'])
def test_an_unreadable_surface_mix_field_counts_as_none(raw: bytes) -> None:
    assert surface_mix_entries(raw) == {}
