"""The batch path (InterestUpdater) against the in-memory store: no Kafka, no Redis."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import numpy as np
import orjson
import pytest

from state import StoreUnavailable
from state.client import items_with_why
from state.codec import encode_vector
from streams.settings import Settings
from streams.worker.interest_updater import Incoming, InterestUpdater, Outgoing
from tests.support.memory_store import MemoryStore

TOPIC = "interactions"


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {"vector_size": 8, "top_k": 5, "redis_retry_max_s": 0.01}
    base.update(overrides)
    return Settings.from_env({}, **base)


def event(user: str, item: str, offset: int, kind: str = "view") -> Incoming:
    body = {"user_id": user, "item_id": item, "type": kind, "ts": 1000.0 + offset}
    body["event_id"] = f"e{offset}"
    return Incoming(TOPIC, 0, offset, orjson.dumps(body), user.encode())


def stream(n: int, users: int = 5, items: int = 30) -> list[Incoming]:
    rng = np.random.default_rng(3)
    return [
        event(f"u{rng.integers(users)}", f"i{rng.integers(items)}", offset) for offset in range(n)
    ]


def run(updater: InterestUpdater, batches: list[list[Incoming]]) -> list[Outgoing]:
    async def go() -> list[Outgoing]:
        await updater.start()
        return [await updater.apply(b) for b in batches]

    return asyncio.run(go())


def shared_state(updater: InterestUpdater) -> list[np.ndarray]:
    """Item vectors, the blend's global prior and trending: what every user shares."""
    return [
        updater.items.matrix.copy(),
        updater.mix.global_logit.copy(),
        updater.trending.scores.copy(),
    ]


def test_a_write_conflict_steps_shared_learner_state_once() -> None:
    batches = [stream(60)[:30], stream(60)[30:]]
    plain = InterestUpdater(settings(), MemoryStore())
    run(plain, batches)
    # Every user of the first batch conflicts once, so the retry folds from the
    # same shared state as the plain run: any double step shows as a difference.
    store = MemoryStore(conflicts={f"u{i}" for i in range(5)})
    conflicted = InterestUpdater(settings(), store)
    outs = run(conflicted, batches)
    assert store.writes >= 3, "the conflict was never retried; the test proved nothing"
    for want, got in zip(shared_state(plain), shared_state(conflicted), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert sum(o.applied for o in outs) == 60


def test_an_outage_retry_steps_shared_learner_state_once() -> None:
    batches = [stream(60)[:30], stream(60)[30:]]
    plain = InterestUpdater(settings(), MemoryStore())
    run(plain, batches)
    store = MemoryStore()
    refused = InterestUpdater(settings(), store)

    async def go() -> list[Outgoing]:
        await refused.start()
        store.refusals = 2  # read-only / OOM: every user of the write refused, twice
        first = await refused.apply(batches[0])
        store.outages = 1  # the next call (a read) cannot connect
        return [first, await refused.apply(batches[1])]

    outs = asyncio.run(go())
    assert sum(o.outages for o in outs) >= 3
    assert sum(o.applied for o in outs) == 60 and not any(o.dead_letters for o in outs)
    for want, got in zip(shared_state(plain), shared_state(refused), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert sum(u.events_applied for u in store.users.values()) == 60


def test_one_recommendation_per_user_on_the_last_events_state() -> None:
    # A zero learning rate freezes item vectors, so the stored state rescored
    # now must give what the batch emitted.
    updater = InterestUpdater(settings(learning_rate=0.0), MemoryStore())
    batch = stream(40, users=4)
    (out,) = run(updater, [batch])
    assert out.applied == 40
    by_user = {k.decode(): orjson.loads(v) for k, v in out.recommendations}
    assert len(out.recommendations) == len(by_user) == 4
    for user_id, rec in by_user.items():
        mine = [orjson.loads(m.value or b"") for m in batch if m.key == user_id.encode()]
        assert rec["events"] == len(mine)
        assert rec["event_id"] == mine[-1]["event_id"]
        assert rec["event_ts"] == mine[-1]["ts"]
        stored = updater.store.users[user_id]  # type: ignore[attr-defined]
        best, _ = updater.model.recommend([updater._interest(stored)], 5)
        assert [i["item_id"] for i in rec["items"]] == [updater.items.ids[r] for r in best[0]]


def test_a_replayed_tail_re_emits_the_stored_recommendation() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(), store)
    batch = [event("u1", "a", 1), event("u1", "b", 2)]
    first, replay = run(updater, [batch, batch])
    assert first.applied == 2 and replay.applied == 0 and replay.skipped == 2
    assert replay.recommendations == first.recommendations
    assert store.users["u1"].events_applied == 2


def test_an_event_keyed_by_another_user_is_dead_lettered_not_applied() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(), store)
    body = orjson.dumps({"user_id": "u1", "item_id": "a", "type": "view", "ts": 1000.0})
    (out,) = run(updater, [[Incoming(TOPIC, 2, 9, body, b"u2")]])
    assert out.applied == 0 and "u1" not in store.users and "u2" not in store.users
    ((_key, value),) = out.dead_letters
    record = orjson.loads(value)
    assert "is not the event's user_id" in record["reason"]
    assert "u2" in record["reason"] and (record["partition"], record["offset"]) == (2, 9)


def test_a_dead_letter_is_capped_with_the_originals_size_and_digest() -> None:
    cap = 1024
    updater = InterestUpdater(settings(max_event_bytes=4096, dlq_raw_max_bytes=cap), MemoryStore())
    raw = orjson.dumps(
        {"user_id": "u1", "item_id": "a", "type": "view", "ts": 1, "p": "x" * 900_000}
    )
    (out,) = run(updater, [[Incoming(TOPIC, 0, 5, raw, b"u1")]])
    ((_, value),) = out.dead_letters
    assert len(value) < 2 * cap + 2048  # base64 of the cap plus the reason and the fields
    record = orjson.loads(value)
    assert record["truncated"] is True and record["raw_bytes"] == len(raw)
    assert record["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert base64.b64decode(record["raw"]) == raw[:cap]
    assert "exceeds" in record["reason"]


def test_availability_is_kept_in_the_store_for_every_worker() -> None:
    store = MemoryStore()
    one = InterestUpdater(settings(), store)
    catalog = [Incoming("items", 0, 1, b'{"item_id": "i3", "available": false}', b"i3")]

    async def go() -> None:
        await one.start()
        await one.add_catalog(catalog)
        other = InterestUpdater(settings(), store)
        await other.start()
        assert "i3" in other.unavailable_ids
        out = await other.apply(stream(40, users=3, items=5))
        for _, rec in out.recommendations:
            assert "i3" not in {i["item_id"] for i in orjson.loads(rec)["items"]}

    asyncio.run(go())


def test_a_model_swap_happens_whole_or_not_at_all() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(), store)
    rng = np.random.default_rng(0)
    vectors = {f"i{n}": encode_vector(rng.standard_normal(8)) for n in range(20)}

    async def go() -> None:
        await updater.start()
        await updater.apply(stream(10))
        before = updater.items
        store.version = "gru-1"
        store.items["gru-1"] = dict(vectors)
        store.projections["gru-1"] = b"not a projection"
        await updater.refresh_items(force=True)
        assert updater.model_version == "online" and updater.items is before
        del store.projections["gru-1"]
        loaded = store.load_projection

        async def outage(version: str) -> bytes | None:
            raise StoreUnavailable("injected part-way through loading the version")

        store.load_projection = outage  # type: ignore[method-assign,assignment]
        with pytest.raises(StoreUnavailable):
            await updater.refresh_items(force=True)
        assert updater.model_version == "online" and updater.items is before
        store.load_projection = loaded  # type: ignore[method-assign]
        await updater.refresh_items(force=True)
        assert updater.model_version == "gru-1" and updater.items is not before
        assert set(updater.items.ids) >= set(vectors)

    asyncio.run(go())


def test_each_recommended_item_says_why() -> None:
    # Frozen item vectors, so the stored state can be checked against the message.
    updater = InterestUpdater(settings(learning_rate=0.0), MemoryStore())
    batch = stream(40, users=4)
    (out,) = run(updater, [batch])
    for key, value in out.recommendations:
        message = orjson.loads(value)
        # On the wire: two arrays aligned with the items; readers get it per item.
        assert len(message["why"]["long"]) == len(message["why"]["near"]) == len(message["items"])
        items = items_with_why(message)
        mine = {orjson.loads(m.value or b"")["item_id"] for m in batch if m.key == key}
        assert items and all(set(i["why"]) == {"long", "short", "near"} for i in items)
        # No trainer has published: nothing comes from a long-term part.
        assert all(i["why"]["long"] == 0.0 and i["why"]["short"] == 1.0 for i in items)
        assert all(i["why"]["near"] in mine for i in items)
        # The nearest recent item is the one whose vector is closest to the item's.
        stored = updater.store.users[key.decode()]  # type: ignore[attr-defined]
        recent = list(stored.recent_items)[:10]
        for item in items:
            vector = updater.items.vector(item["item_id"])
            cosines = {
                r: float(vector @ updater.items.vector(r))
                / float(np.linalg.norm(vector) * np.linalg.norm(updater.items.vector(r)))
                for r in recent
            }
            assert cosines[item["why"]["near"]] == pytest.approx(max(cosines.values()), abs=1e-5)


def test_explanations_can_be_turned_off() -> None:
    (out,) = run(InterestUpdater(settings(explain_recent=0), MemoryStore()), [stream(10)])
    assert all("why" not in orjson.loads(v) for _, v in out.recommendations)


def test_an_idle_worker_sends_what_its_last_batch_stepped() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(trending_publish_s=0.0), store)
    run(updater, [stream(40)])  # one batch: its own steps wait for a next write
    assert store.trending is None

    async def flush_twice() -> list[str] | None:
        await updater.flush_shared()
        sent = store.trending
        store.trending = None
        await updater.flush_shared()  # nothing new since: nothing sent
        assert store.trending is None
        return sent

    trending = asyncio.run(flush_twice())
    assert trending and set(trending) <= {f"i{n}" for n in range(30)}
    assert len(trending) == 5
