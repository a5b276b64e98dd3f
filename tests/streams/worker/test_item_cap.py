"""A worker's item table stays within ``item_table_max`` under endless new item ids."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson

from streams.worker.interest_updater import Incoming, InterestUpdater
from tests.streams.worker.test_batch_path import event, settings
from tests.support.memory_store import MemoryStore


def test_endless_new_items_keep_the_table_at_its_cap_and_every_event_applies() -> None:
    updater = InterestUpdater(settings(item_table_max=40), MemoryStore())
    rng = np.random.default_rng(5)
    batches = [
        [event(f"u{rng.integers(10)}", f"new-{b}-{i}", b * 20 + i) for i in range(20)]
        for b in range(50)
    ]

    async def go() -> list[int]:
        await updater.start()
        sizes = []
        for batch in batches:
            out = await updater.apply(batch)
            assert out.applied == len(batch) and not out.dead_letters
            for _, raw in out.recommendations:
                listed = [entry["item_id"] for entry in orjson.loads(raw)["items"]]
                assert all(item in updater.items for item in listed)
            sizes.append(len(updater.items))
        return sizes

    sizes = asyncio.run(go())
    assert max(sizes) <= 40 + 20  # the cap, plus at most one batch's new items
    assert sizes[-1] <= 60 and updater.items.recycled >= 1000 - 60


def test_a_recycled_row_of_an_unavailable_item_is_recommendable_again() -> None:
    updater = InterestUpdater(settings(item_table_max=4), MemoryStore())

    async def go() -> None:
        await updater.start()
        await updater.add_catalog(
            [Incoming("items", 0, 0, orjson.dumps({"item_id": "gone", "available": False}))]
        )
        row = updater.items.get_index("gone")
        assert row is not None and row in updater.model.unavailable
        for b in range(4):
            await updater.apply([event("u1", f"i{b}", b)])
        assert "gone" not in updater.items
        assert row not in updater.model.unavailable

    asyncio.run(go())
