"""The compare-and-set write script on a real redis-server."""

from __future__ import annotations

import asyncio

import numpy as np

from state import StoredUser, UserStateStore, UserWrite
from state.keys import KeyLayout
from streams.devtools.embedded import EmbeddedServices
from tests.support.harness import isolated_settings


def _write(before: StoredUser, offset: int, state: np.ndarray | None) -> UserWrite:
    return UserWrite(
        before=before,
        short_term=np.ones(4, np.float32),
        last_event_ts=1.0,
        events_applied=before.events_applied + 1,
        recent_items=["a"],
        topic="interactions",
        partition=0,
        offset=offset,
        model_version="gru-1",
        recommendations=b"{}",
        new_items=["a"],
        long_term_state=state,
    )


def test_state_is_written_only_when_given_and_stale_writes_conflict(
    services: EmbeddedServices,
) -> None:
    settings = isolated_settings(services)

    async def scenario() -> None:
        store = UserStateStore.from_url(
            settings.redis_url, KeyLayout(settings.redis_prefix), 4, 60, 10
        )
        try:
            fresh = (await store.load_users(["u"]))["u"]
            state = np.arange(6, dtype=np.float32)
            assert await store.write_users([_write(fresh, 5, state)]) == [True]
            # A stale writer (read before that write) loses the compare-and-set.
            assert await store.write_users([_write(fresh, 6, None)]) == [False]
            stored = (await store.load_users(["u"]))["u"]
            assert stored.last_offset == "5" and stored.long_term_state_version == "gru-1"
            np.testing.assert_array_equal(stored.long_term_state, state)
            # A worker without the GRU step leaves the state where it was.
            assert await store.write_users([_write(stored, 6, None)]) == [True]
            again = (await store.load_users(["u"]))["u"]
            assert again.last_offset == "6" and again.events_applied == 2
            np.testing.assert_array_equal(again.long_term_state, state)
        finally:
            await store.aclose()

    asyncio.run(scenario())
