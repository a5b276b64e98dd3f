"""The batch path with user id pseudonyms on: what enters the store and the outputs."""

from __future__ import annotations

import orjson

from state.pseudonym import Pseudonyms
from streams.worker.interest_updater import Incoming, InterestUpdater
from tests.streams.worker.test_batch_path import TOPIC, event, run, settings
from tests.support.memory_store import MemoryStore

KEY = "pseudonym-unit-test-key"
RAW = "jane.doe:42@example.org"  # a colon too: the dead-letter reason must not split on it


def test_the_store_and_every_output_see_only_the_pseudonym() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(user_id_key=KEY), store)
    pseudonym = Pseudonyms(KEY.encode())(RAW)
    batch = [event(RAW, f"i{n}", n) for n in range(30)]
    (out,) = run(updater, [batch])
    assert out.applied == 30 and list(store.users) == [pseudonym]
    assert store.users[pseudonym].events_applied == 30
    assert [k for k, _ in out.recommendations] == [pseudonym.encode()]
    for key, value in out.recommendations + out.shifts:
        assert RAW.encode() not in value and orjson.loads(value)["user_id"] == key.decode()


def test_a_key_mismatch_reason_names_neither_id() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(user_id_key=KEY), store)
    body = orjson.dumps({"user_id": RAW, "item_id": "a", "type": "view", "ts": 1000.0})
    (out,) = run(updater, [[Incoming(TOPIC, 2, 9, body, b"other:user@example.org")]])
    assert out.applied == 0 and store.users == {}
    ((_key, value),) = out.dead_letters
    reason = orjson.loads(value)["reason"]
    assert reason == (
        "the Kafka key is not the event's user_id: a user's events must share a key (and partition)"
    )
