"""The worker under INTERESTS_BLEND=fusion, against the in-memory store: the harness's scores,
the swap of the GRU's item vectors, explanations."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest

from models.blend import MixWeightLearner
from models.evaluation.config import EvalConfig
from models.evaluation.stream_variants import Interest
from models.fused_scoring import FUSION_SHARPNESS, FusionSpace, LongTermItems
from models.long_term.fit import LongTermConfig
from state import StoreUnavailable
from state.client import items_with_why
from state.codec import encode_vector
from streams.worker.interest_updater import InterestUpdater, interest_config
from tests.streams.worker.test_batch_path import settings, stream
from tests.support.gru import random_stepper
from tests.support.memory_store import MemoryStore

DIM = 8


def publish(store: MemoryStore, version: str, n_items: int = 30, seed: int = 1) -> np.ndarray:
    """A version whose trained item vectors differ from the online ones (as after steps)."""
    rng = np.random.default_rng(seed)
    trained = rng.standard_normal((n_items, DIM)).astype(np.float32)
    online = trained + rng.standard_normal((n_items, DIM)).astype(np.float32)
    store.version = version
    store.items[version] = {f"i{n}": encode_vector(online[n]) for n in range(n_items)}
    store.long_term_items[version] = {f"i{n}": encode_vector(trained[n]) for n in range(n_items)}
    store.gru_steps[version] = random_stepper(DIM).to_bytes()
    return trained


def test_the_workers_fused_scores_are_the_harnesss() -> None:
    store = MemoryStore()
    s = settings(blend="fusion", learning_rate=0.0)  # frozen items: the state can be rescored
    updater = InterestUpdater(s, store)
    # The prior's step lands after the batch is scored: held, so the state rescores the same.
    updater.mix = MixWeightLearner(0.5, global_learning_rate=0.0, sharpness=FUSION_SHARPNESS)
    trained = publish(store, "gru-1")

    async def go() -> list[tuple[bytes, bytes]]:
        await updater.start()
        assert updater.model_version == "gru-1" and updater.model.fusion is not None
        return (await updater.apply(stream(60, users=4))).recommendations

    recommendations = asyncio.run(go())
    # The harness's blend under fusion, holding the same item table, GRU and user states.
    config = EvalConfig(long_term=LongTermConfig(dim=DIM), interest=interest_config(s))
    harness = Interest("fusion", config, long_term=None, blend="fusion")
    harness.items.load(zip(updater.items.ids, updater.items.matrix, strict=True))
    harness.model.stepper = updater.model.stepper
    harness.model.fusion = FusionSpace(LongTermItems([f"i{n}" for n in range(30)], trained))
    harness.model.mix = updater.mix
    for key, value in recommendations:
        user_id = key.decode()
        harness.users[user_id] = updater._interest(store.users[user_id])
        scores = harness.scores(user_id, len(harness.items))
        assert scores is not None
        message = orjson.loads(value)
        rows = [updater.items.ids.index(i["item_id"]) for i in message["items"]]
        np.testing.assert_allclose(
            [i["score"] for i in message["items"]], scores[rows], rtol=1e-5, atol=2e-6
        )
        recent = updater.items.rows_of(store.users[user_id].recent_items)
        scores[recent] = -np.inf
        assert rows == np.argsort(-scores, kind="stable")[: len(rows)].tolist()


def test_a_swap_loads_the_gru_item_vectors_with_the_version_or_keeps_the_old_whole() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(blend="fusion"), store)

    async def go() -> None:
        await updater.start()
        await updater.apply(stream(10))
        assert updater.model.fusion is None  # online: nothing trained to fuse with
        before = (updater.items, updater.model)
        trained = publish(store, "gru-1")
        loaded = store.load_long_term_items

        async def outage(version: str) -> dict[str, np.ndarray]:
            raise StoreUnavailable("injected while loading the GRU's item vectors")

        store.load_long_term_items = outage  # type: ignore[method-assign,assignment]
        with pytest.raises(StoreUnavailable):
            await updater.refresh_items(force=True)
        assert updater.model_version == "online" and (updater.items, updater.model) == before
        assert updater.model.fusion is None
        store.load_long_term_items = loaded  # type: ignore[method-assign]
        await updater.refresh_items(force=True)
        assert updater.model_version == "gru-1" and updater.model.fusion is not None
        gru = updater.model.fusion.long_term
        np.testing.assert_array_equal(gru.matrix[[gru.row_of[f"i{n}"] for n in range(30)]], trained)
        # The online items moved away from the trained ones; the GRU's copy stays.
        await updater.apply(stream(40))
        rows, known = gru.aligned(updater.items)
        assert known[updater.items.rows_of([f"i{n}" for n in range(30)])].all()
        np.testing.assert_array_equal(rows[updater.items.get_index("i3")], trained[3])

    asyncio.run(go())


def test_the_vector_blend_loads_no_gru_item_vectors() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(blend="vector"), store)
    publish(store, "gru-1")
    asyncio.run(updater.start())
    assert updater.model_version == "gru-1" and updater.model.fusion is None


def test_fused_recommendations_say_why() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(blend="fusion"), store)
    publish(store, "gru-1")

    async def go() -> list[tuple[bytes, bytes]]:
        await updater.start()
        return (await updater.apply(stream(60, users=4))).recommendations

    shares = []
    for _, value in asyncio.run(go()):
        items = items_with_why(orjson.loads(value))
        assert items
        for item in items:
            assert 0.0 <= item["why"]["long"] <= 1.0
            assert item["why"]["long"] + item["why"]["short"] == pytest.approx(1.0, abs=1e-3)
            shares.append(item["why"]["long"])
    assert 0.0 < np.mean(shares) < 1.0  # both parts take part


def test_fusion_over_a_large_catalogue_reranks_the_index_candidates() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(blend="fusion", ann_min_items=100, ann_ef=32), store)
    publish(store, "gru-1", n_items=300)

    async def go() -> list[tuple[bytes, bytes]]:
        await updater.start()
        assert updater.model.index is not None and updater.model.fusion is not None
        return (await updater.apply(stream(40))).recommendations

    for _, value in asyncio.run(go()):
        scores = [i["score"] for i in orjson.loads(value)["items"]]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)
