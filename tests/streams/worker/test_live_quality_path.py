"""Live quality on the batch path (in-memory store): planted choices give the exact HR@K."""

from __future__ import annotations

import orjson

from streams.worker.interest_updater import InterestUpdater, Outgoing
from streams.worker.metrics import WorkerMetrics
from tests.streams.worker.test_batch_path import event, run, settings, stream
from tests.support.memory_store import MemoryStore

K = 5


def shown(store: MemoryStore, user: str) -> list[str]:
    """The list the user was last shown: their stored recommendation."""
    return [entry["item_id"] for entry in orjson.loads(store.recommendations[user])["items"]]


def test_each_users_first_chosen_item_is_scored_against_the_list_last_shown() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(top_k=K, live_quality_k=K), store)
    warm = run(updater, [stream(60)])  # u0..u4: their first batch, no list shown yet
    assert warm[0].live == []
    offset = 1000
    outs: list[Outgoing] = []

    def apply(*choices: tuple[str, str, str]) -> Outgoing:
        nonlocal offset
        batch = []
        for user, item, kind in choices:
            batch.append(event(user, item, offset, kind))
            offset += 1
        outs.append(run(updater, [batch])[0])
        return outs[-1]

    hit = shown(store, "u0")[2]
    assert apply(("u0", hit, "click")).live == [("online", 2)]
    # Not in the list: a miss (rank K); the later event of the batch is not scored.
    later = shown(store, "u0")[0]
    assert apply(("u0", "never-shown", "view"), ("u0", later, "view")).live == [("online", K)]
    # A skip is no choice: the first event of positive weight is scored.
    skipped, chosen = shown(store, "u1")[0], shown(store, "u1")[1]
    assert apply(("u1", skipped, "skip"), ("u1", chosen, "like")).live == [("online", 1)]
    # A user never shown a list is not scored.
    assert apply(("new-user", "i1", "view")).live == []

    metrics = WorkerMetrics(K, 100)
    for out in outs:
        metrics.live_quality(out.live)
    figures = metrics.live.total("online")
    assert figures.events == 3
    assert figures.hit_rate == 2 / 3
    sample = metrics.registry.get_sample_value
    assert sample("interests_live_scored_events_total", {"version": "online"}) == 3
    assert sample("interests_live_hits_total", {"version": "online"}) == 2
    assert sample("interests_live_window", {"version": "online", "measure": "hit_rate"}) == 2 / 3


def test_a_replayed_event_is_not_scored_again() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(top_k=K, live_quality_k=K), store)
    run(updater, [stream(60)])
    again = run(updater, [[event("u0", shown(store, "u0")[0], 2000)]])[0]
    replay = run(updater, [[event("u0", shown(store, "u0")[0], 2000)]])[0]
    assert again.live == [("online", 0)]
    assert replay.skipped == 1 and replay.live == []


def test_nothing_is_gathered_when_not_measuring() -> None:
    store = MemoryStore()
    updater = InterestUpdater(settings(top_k=K), store)
    updater.measure = False
    out = run(updater, [stream(60), [event("u0", "i1", 2000)]])[1]
    assert out.applied == 1
    assert (out.live, out.event_ts, out.written_lag_s, out.redis_read_s) == ([], [], [], [])
