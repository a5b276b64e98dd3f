"""Erasure that sticks: the fence ``forget`` leaves, on a real redis-server and in
the in-memory store the batch-path unit tests use (both must keep one contract)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from state import InterestReader, SharedWrite, StoredUser, UserStateStore, UserStore, UserWrite
from state.codec import CodecError
from state.erasure import ErasureFence
from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from streams.devtools.embedded import EmbeddedServices
from tests.support.harness import isolated_settings
from tests.support.memory_store import MemoryStore

TOPIC = "interactions"
FENCE_S = 600
VECTOR = np.ones(4, np.float32)


def _write(before: StoredUser, offset: int, items: list[str]) -> UserWrite:
    return UserWrite(
        before=before,
        short_term=VECTOR,
        last_event_ts=1.0,
        events_applied=before.events_applied + len(items),
        recent_items=items[::-1],
        topic=TOPIC,
        partition=0,
        offset=offset,
        model_version="online",
        recommendations=b"{}",
        new_items=items,
    )


@dataclass
class Side:
    """One store plus how to erase a user from it and what it holds afterwards."""

    store: UserStore
    forget: Callable[[str, ErasureFence], bool]
    history: Callable[[str], list[str]]


@pytest.fixture(params=["redis", "memory"])
def side(request: pytest.FixtureRequest, services: EmbeddedServices) -> Iterator[Side]:
    if request.param == "memory":
        memory = MemoryStore()
        yield Side(memory, memory.forget, lambda u: memory.histories.get(u, []))
        return
    settings = isolated_settings(services)
    keys = KeyLayout(settings.redis_prefix)
    store = UserStateStore.from_url(settings.redis_url, keys, 4, 600, 10)
    client = redis.Redis.from_url(settings.redis_url)
    reader = InterestReader(client, keys)

    def history(user_id: str) -> list[str]:
        items: list[bytes] = client.lrange(keys.history(user_id), 0, -1)  # type: ignore[assignment]
        return [i.decode() for i in items]

    yield Side(store, lambda u, fence: reader.forget(u, FENCE_S, fence), history)
    reader.close()


def _run(side: Side, scenario: Callable[[], Coroutine[None, None, None]]) -> None:
    """One event loop for the whole scenario: the async Redis client is bound to it."""

    async def whole() -> None:
        try:
            await scenario()
        finally:
            await side.store.aclose()

    asyncio.run(whole())


async def _committed(side: Side, writes: list[UserWrite]) -> list[bool | None]:
    return (await side.store.write(writes, SharedWrite("online"))).committed


async def _load(side: Side, *user_ids: str) -> dict[str, StoredUser]:
    return await side.store.load_users(list(user_ids))


def test_a_write_read_before_the_erasure_is_refused_and_later_events_make_a_new_user(
    side: Side,
) -> None:
    async def scenario() -> None:
        old = (await _load(side, "known"))["known"]
        assert await _committed(side, [_write(old, 4, ["a", "b", "c", "d", "e"])]) == [True]
        # Both read before the erasure: "known" with its state, "newcomer" as absent.
        before = await _load(side, "known", "newcomer")
        assert side.forget("known", ErasureFence.new(TOPIC, {0: 10}))
        assert not side.forget("newcomer", ErasureFence.new(TOPIC, {0: 10}))

        in_flight = [_write(before["known"], 7, ["f", "g"]), _write(before["newcomer"], 8, ["h"])]
        assert await _committed(side, in_flight) == [False, False]
        after = await _load(side, "known", "newcomer")
        for user_id, user in after.items():
            assert user.events_applied == 0 and user.last_offset == "", user_id
            assert side.history(user_id) == [], user_id
            # Events that were in the log at the erasure are never applied again...
            assert user.already_applied(TOPIC, 0, 9), user_id
            # ...those that came later (or live on another partition or topic) are new.
            assert not user.already_applied(TOPIC, 0, 10), user_id
            assert not user.already_applied(TOPIC, 1, 0)
            assert not user.already_applied("x", 0, 0)

        assert await _committed(side, [_write(after["known"], 10, ["new"])]) == [True]
        fresh = (await _load(side, "known"))["known"]
        assert fresh.events_applied == 1 and fresh.recent_items == ["new"]
        assert side.history("known") == ["new"]
        # The new user's own next write goes through (its read saw the same fence).
        assert await _committed(side, [_write(fresh, 11, ["newer"])]) == [True]
        assert (await _load(side, "known"))["known"].events_applied == 2

    _run(side, scenario)


def test_a_second_erasure_fences_writes_read_under_the_first(side: Side) -> None:
    async def scenario() -> None:
        side.forget("u", ErasureFence.new(TOPIC, {0: 1}))
        under_first = (await _load(side, "u"))["u"]
        side.forget("u", ErasureFence.new(TOPIC, {0: 1}))
        assert await _committed(side, [_write(under_first, 2, ["a"])]) == [False]

    _run(side, scenario)


def test_the_fence_expires_and_forget_removes_every_key_of_the_user(
    services: EmbeddedServices,
) -> None:
    settings = isolated_settings(services)
    keys = KeyLayout(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_url)
    reader = InterestReader(client, keys)
    try:
        client.hset(keys.user("u"), "events_applied", 3)
        client.rpush(keys.history("u"), "a")
        assert reader.forget("u", FENCE_S)
        held = {k.decode() for k in client.scan_iter(match=f"{keys.prefix}*")}
        assert held == {keys.erasure("u")}
        assert 0 < client.ttl(keys.erasure("u")) <= FENCE_S
    finally:
        reader.close()


def test_trainer_publish_skips_a_user_forgotten_after_it_read_the_histories(
    services: EmbeddedServices,
) -> None:
    settings = isolated_settings(services)
    keys = KeyLayout(settings.redis_prefix)
    registry = ModelRegistry.from_url(settings.redis_url, settings.redis_prefix, 600)
    reader = InterestReader(registry.client, keys)
    store = UserStateStore.from_url(settings.redis_url, keys, 4, 600, 10)

    async def events(user_ids: list[str], offset: int) -> None:
        users = await store.load_users(user_ids)
        writes = [_write(users[u], offset, ["a"]) for u in user_ids]
        assert (await store.write(writes, SharedWrite("online"))).committed == [True] * len(writes)
        await store.aclose()

    try:
        asyncio.run(events(["gone", "kept", "back"], 0))
        histories = registry.histories()
        assert set(histories) == {"gone", "kept", "back"}
        reader.forget("gone", FENCE_S, ErasureFence.new(TOPIC, {0: 1}))
        reader.forget("back", FENCE_S, ErasureFence.new(TOPIC, {0: 1}))
        asyncio.run(events(["back"], 1))  # a new user after the erasure
        record = ModelRecord("gru-1", "0" * 64, "gru-1.pt", ["a"], {})
        long_term = {u: VECTOR for u in histories}
        written = registry.publish(record, {"a": VECTOR}, long_term, long_term_states=long_term)
        assert written == 1
        assert not registry.client.exists(keys.user("gone"))
        assert registry.client.hget(keys.user("kept"), "long_term_version") == b"gru-1"
        assert registry.client.hget(keys.user("kept"), "long_term_state_version") == b"gru-1"
        # The new user keeps its own state and gets nothing computed from the old history.
        back = reader.get_user("back")
        assert back is not None and back.events_applied == 1 and back.long_term is None
    finally:
        registry.close()


@given(
    st.text(max_size=20),
    st.text(max_size=40),
    st.dictionaries(st.integers(0, 10_000), st.integers(0, 2**62), max_size=8),
)
def test_fence_codec_round_trips(erasure_id: str, topic: str, ends: dict[int, int]) -> None:
    fence = ErasureFence(erasure_id, topic, ends)
    assert ErasureFence.decode(fence.encode()) == fence


@given(st.binary(max_size=64))
def test_a_corrupt_fence_raises_codec_error(raw: bytes) -> None:
    try:
        fence = ErasureFence.decode(raw)
    except CodecError:
        return
    assert isinstance(fence, ErasureFence)
