"""The compare-and-set write script on a real redis-server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import redis

from state import SharedWrite, StoredUser, StoreUnavailable, UserStateStore, UserWrite
from state.keys import KeyLayout
from streams.devtools.embedded import EmbeddedServices, start_redis
from tests.support.harness import isolated_settings


async def committed(store: UserStateStore, writes: list[UserWrite]) -> list[bool | None]:
    return (await store.write(writes, SharedWrite("gru-1"))).committed


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
            assert await committed(store, [_write(fresh, 5, state)]) == [True]
            # A stale writer (read before that write) loses the compare-and-set.
            assert await committed(store, [_write(fresh, 6, None)]) == [False]
            stored = (await store.load_users(["u"]))["u"]
            assert stored.last_offset == "5" and stored.long_term_state_version == "gru-1"
            np.testing.assert_array_equal(stored.long_term_state, state)
            # A worker without the GRU step leaves the state where it was.
            assert await committed(store, [_write(stored, 6, None)]) == [True]
            again = (await store.load_users(["u"]))["u"]
            assert again.last_offset == "6" and again.events_applied == 2
            np.testing.assert_array_equal(again.long_term_state, state)
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_a_forgotten_script_is_loaded_again_and_the_write_goes_through(
    services: EmbeddedServices,
) -> None:
    settings = isolated_settings(services)

    async def scenario() -> None:
        store = UserStateStore.from_url(
            settings.redis_url, KeyLayout(settings.redis_prefix), 4, 60, 10
        )
        try:
            await store.prepare()
            await store.client.script_flush()
            fresh = (await store.load_users(["u"]))["u"]
            assert await committed(store, [_write(fresh, 1, None)]) == [True]
            assert (await store.load_users(["u"]))["u"].last_offset == "1"
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_refusals_are_outages_not_failed_writes(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    url = f"redis://127.0.0.1:{server.port}/0"
    admin = redis.Redis.from_url(url)

    async def scenario() -> None:
        store = UserStateStore.from_url(url, KeyLayout("t:"), 4, 60, 10, timeout_s=2.0)
        try:
            await store.prepare()
            fresh = (await store.load_users(["u"]))["u"]
            admin.config_set("min-replicas-to-write", 1)  # NOREPLICAS on every write
            outcome = await store.write([_write(fresh, 1, None)], SharedWrite("gru-1", events=1))
            assert outcome.committed == [None] and "NOREPLICAS" in (outcome.refusal or "")
            assert not outcome.shared_written
            admin.config_set("min-replicas-to-write", 0)
            admin.config_set("maxmemory", 1)  # OOM
            outcome = await store.write([_write(fresh, 1, None)], SharedWrite("gru-1"))
            assert outcome.committed == [None] and "OutOfMemory" in (outcome.refusal or "")
            admin.config_set("maxmemory", 0)
            assert await committed(store, [_write(fresh, 1, None)]) == [True]
        finally:
            await store.aclose()
        server.stop()
        try:
            await store.load_users(["u"])
        except StoreUnavailable:
            pass
        else:
            raise AssertionError("a stopped Redis did not read as an outage")

    try:
        asyncio.run(scenario())
    finally:
        admin.close()
        server.stop()
