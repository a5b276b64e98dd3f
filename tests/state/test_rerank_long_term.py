"""A re-rank reads the long-term vector the worker ranks with: the version's GRU read-out of
the user's stepped state, not the refresh's vector (real redis-server)."""

from __future__ import annotations

import uuid

import numpy as np

from state import InterestReader
from state.codec import encode_vector
from state.connection import RedisEndpoint, sync_client
from state.keys import Field, KeyLayout
from streams.devtools.embedded import EmbeddedServices
from tests.support.gru import random_stepper

DIM = 8


def test_a_rerank_follows_the_stepped_long_term_vector(services: EmbeddedServices) -> None:
    client = sync_client(RedisEndpoint(services.redis_url))
    keys = KeyLayout(f"t{uuid.uuid4().hex[:8]}:")
    stepper = random_stepper(DIM)
    state = np.random.default_rng(3).standard_normal((stepper.rows, stepper.hidden))
    stepped = stepper.output(state.astype(np.float32))
    # "now" is where the user's stepped state points; "then" is where the refresh left them.
    items = {"now": stepped, "then": -stepped}
    client.set(keys.model_version(), "gru-1")
    client.hset(keys.items("gru-1"), mapping={i: encode_vector(v) for i, v in items.items()})
    user = keys.user("u1")
    client.hset(
        user,
        mapping={
            Field.LONG_TERM: encode_vector(-stepped),
            Field.LONG_TERM_VERSION: "gru-1",
            Field.MODEL_VERSION: "gru-1",
            Field.MIX_WEIGHT: "0.9",
        },
    )
    reader = InterestReader(client, keys)
    try:
        # No GRU step published: the refresh's vector is all there is.
        assert [r["item_id"] for r in reader.rerank("u1", ["now", "then"])["items"]] == [
            "then",
            "now",
        ]
        client.set(keys.gru_step("gru-1"), stepper.to_bytes())
        client.hset(
            user,
            mapping={
                Field.LONG_TERM_STATE: encode_vector(state.ravel().astype(np.float32)),
                Field.LONG_TERM_STATE_VERSION: "gru-1",
            },
        )
        fresh = InterestReader(client, keys)
        assert [r["item_id"] for r in fresh.rerank("u1", ["then", "now"])["items"]] == [
            "now",
            "then",
        ]
        # A state of another version is not read out with this version's step.
        client.hset(user, Field.LONG_TERM_STATE_VERSION, "gru-0")
        assert [r["item_id"] for r in fresh.rerank("u1", ["now", "then"])["items"]] == [
            "then",
            "now",
        ]
    finally:
        client.close()
