"""The batch path across a topic's new epoch (state.epoch), against the in-memory store:
events of a recreated topic are applied, their replays are not."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from state.epoch import TopicEpochs
from state.keys import KeyLayout
from streams.worker.epoch_watch import EpochWatch
from streams.worker.interest_updater import InterestUpdater
from tests.streams.worker.test_batch_path import TOPIC, event, settings
from tests.support.memory_store import MemoryStore


class RecreatedTopic(EpochWatch):
    """The broker's answer without a broker: each ``recreate()`` is a new topic id."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:1", [TOPIC], TopicEpochs(aioredis.Redis(), KeyLayout()))
        self.epoch = 0
        self.checks = 0

    def recreate(self) -> None:
        self.epoch += 1

    async def check(self) -> bool:
        self.checks += 1
        changed = self.epochs.epochs.get(TOPIC, 0) != self.epoch
        self.epochs.epochs[TOPIC] = self.epoch
        return changed


def _applied(store: MemoryStore, user: str) -> int:
    return asyncio.run(store.load_users([user]))[user].events_applied


def test_offsets_going_back_after_a_recreation_are_applied_and_replays_still_skipped() -> None:
    store, watch = MemoryStore(), RecreatedTopic()
    updater = InterestUpdater(settings(), store)
    updater.epochs = watch

    async def go() -> list[tuple[int, int]]:
        await updater.start()
        counts = []
        for batch in (
            [event("u1", f"i{n}", n) for n in range(10)],
            [event("u1", f"i{n}", n) for n in range(8, 10)],  # a replay: skipped
        ):
            out = await updater.apply(batch)
            counts.append((out.applied, out.skipped))
        watch.recreate()
        for batch in (
            [event("u1", f"new{n}", n) for n in range(3)],  # offsets 0.. again
            [event("u1", f"new{n}", n) for n in range(3)],  # their replay
            [event("u1", "new3", 3)],
        ):
            out = await updater.apply(batch)
            counts.append((out.applied, out.skipped))
        return counts

    assert asyncio.run(go()) == [(10, 0), (0, 2), (3, 0), (0, 3), (1, 0)]
    assert _applied(store, "u1") == 14
    user = asyncio.run(store.load_users(["u1"]))["u1"]
    assert (user.last_topic, user.last_offset) == (f"{TOPIC}@1", "3")


def test_a_worker_that_missed_the_recreation_checks_before_skipping() -> None:
    store = MemoryStore()
    first = InterestUpdater(settings(), store)
    first.epochs = RecreatedTopic()

    async def go() -> tuple[int, int]:
        await first.start()
        await first.apply([event("u1", f"i{n}", n) for n in range(10)])
        # Another worker, started afresh after the topic was recreated elsewhere:
        # its first batch has no earlier offsets to go back from.
        watch = RecreatedTopic()
        second = InterestUpdater(settings(), store)
        second.epochs = watch
        await second.start()
        watch.recreate()
        out = await second.apply([event("u1", f"new{n}", n) for n in range(3)])
        return out.applied, out.skipped

    assert asyncio.run(go()) == (3, 0)
    assert _applied(store, "u1") == 13
