"""A model swap builds the approximate top-K index first; a failed build keeps the old version."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest

from models.ann_index import HnswTopK
from state.codec import encode_vector
from streams.worker.interest_updater import InterestUpdater
from tests.streams.worker.test_batch_path import settings, stream
from tests.support.memory_store import MemoryStore


def publish(store: MemoryStore, version: str, n_items: int) -> None:
    rng = np.random.default_rng(1)
    store.version = version
    store.items[version] = {f"i{n}": encode_vector(rng.standard_normal(8)) for n in range(n_items)}


def test_a_swap_to_a_large_catalogue_scores_through_the_index() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(ann_min_items=100, ann_ef=32), store)

    async def go() -> None:
        await updater.start()
        assert updater.model.index is None
        publish(store, "gru-1", 300)
        await updater.refresh_items(force=True)
        assert updater.model_version == "gru-1"
        assert isinstance(updater.model.index, HnswTopK) and updater.model.index.size == 300
        out = await updater.apply(stream(40))
        for _, rec in out.recommendations:
            assert len(orjson.loads(rec)["items"]) == 5

    asyncio.run(go())


def test_a_small_catalogue_stays_on_brute_force() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(ann_min_items=1000), store)

    async def go() -> None:
        await updater.start()
        publish(store, "gru-1", 300)
        await updater.refresh_items(force=True)
        assert updater.model_version == "gru-1" and updater.model.index is None

    asyncio.run(go())


def test_a_failed_index_build_keeps_the_old_version(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(ann_min_items=100), store)

    def fail(*_: object) -> None:
        raise MemoryError("injected: no room for the graph")

    async def go() -> None:
        await updater.start()
        before = updater.items
        monkeypatch.setattr(HnswTopK, "__init__", fail)
        publish(store, "gru-1", 300)
        await updater.refresh_items(force=True)
        assert updater.model_version == "online" and updater.items is before
        assert updater.model.index is None
        monkeypatch.undo()
        await updater.refresh_items(force=True)
        assert updater.model_version == "gru-1" and updater.model.index is not None

    asyncio.run(go())
