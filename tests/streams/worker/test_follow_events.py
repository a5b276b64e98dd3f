"""Follow events: validated, applied once to the followee set, and the social part of
the blend, on redis-server (the worker's batch path in process)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import orjson
import pytest
import redis
from redis.cluster import RedisCluster

from state.codec import decode_vector, encode_vector
from state.connection import outage_client, sync_client
from state.keys import KeyLayout
from state.pseudonym import Pseudonyms
from state.store import UserStateStore
from streams.cli.main import main
from streams.devtools.embedded import EmbeddedServices
from streams.devtools.embedded_cluster import EmbeddedCluster
from streams.devtools.synthetic import item_id
from streams.read_side import open_reader
from streams.settings import Settings
from streams.worker.events import EventRules, Rejection, decode_event
from streams.worker.interest_updater import Incoming, InterestUpdater, Outgoing
from tests.support.harness import isolated_settings

RULES = EventRules(frozenset({"view"}))
VERSION = "v000001"
T0 = 1_700_000_000.0
DIM = 16
SOCIAL_CATEGORY = 2  # what the planted followees like
OWN_CATEGORY = 1  # what the planted "regular" user likes


TARGET = "target_user_id"
SELF = "of oneself (target_user_id is the user_id)"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "follow"}, "follow event without a target_user_id"),
        ({"type": "unfollow", TARGET: None}, "unfollow event without a target_user_id"),
        ({"type": "follow", TARGET: ["b"]}, f"{TARGET} must be a string or an integer, not list"),
        ({"type": "follow", TARGET: True}, f"{TARGET} must be a string or an integer, not bool"),
        ({"type": "follow", TARGET: "   "}, "empty target_user_id"),
        ({"type": "follow", TARGET: "b" * 257}, "target_user_id longer than 256 characters"),
        ({"type": "follow", TARGET: "u"}, f"follow {SELF}"),
        ({"type": "unfollow", TARGET: " u "}, f"unfollow {SELF}"),
    ],
)
def test_a_bad_follow_is_rejected_with_its_reason(body: dict[str, object], reason: str) -> None:
    raw = orjson.dumps({"user_id": "u", "ts": 1.0, **body})
    assert decode_event(raw, RULES, now=10.0) == Rejection(reason)


def test_a_follow_needs_no_item_and_round_trips() -> None:
    raw = b'{"user_id": 7, "type": "follow", "target_user_id": 42, "ts": 1.0, "item_id": "x"}'
    event = decode_event(raw, RULES, now=10.0)
    assert not isinstance(event, Rejection)
    assert (event.target_user_id, event.item_id, event.is_item, event.is_search) == (
        "42",
        "",
        False,
        False,
    )
    assert decode_event(event.to_json(), RULES, now=10.0) == event


def axis(category: int, scale: float = 1.0) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[category] = scale
    return v


def plant(settings: Settings, long_terms: dict[str, int]) -> None:
    """A published version: 8 categories of 40 items (one axis each), and users whose
    long-term vector (from a refresh) points at a category."""
    keys = KeyLayout(settings.redis_prefix)
    client = sync_client(settings)  # a cluster client on a cluster
    rng = np.random.default_rng(0)
    vectors = {}
    for c in range(8):
        for r in range(40):
            vectors[item_id(c, r)] = axis(c) + rng.normal(0, 0.05, DIM).astype(np.float32)
    client.hset(keys.items(VERSION), mapping={k: encode_vector(v) for k, v in vectors.items()})
    for user, category in long_terms.items():
        lt = {"long_term": encode_vector(axis(category)), "long_term_version": VERSION}
        client.hset(keys.user(user), mapping=lt)  # type: ignore[arg-type]
    client.set(keys.model_version(), VERSION)
    client.close()


def follow(user: str, target: str, n: int, kind: str = "follow") -> Incoming:
    body = {"user_id": user, "type": kind, "target_user_id": target, "ts": T0 + n}
    return Incoming("interactions", 0, n, orjson.dumps(body), user.encode())


def view(user: str, item: str, n: int) -> Incoming:
    body = {"user_id": user, "type": "view", "item_id": item, "ts": T0 + n}
    return Incoming("interactions", 0, n, orjson.dumps(body), user.encode())


def run(settings: Settings, batches: Sequence[Sequence[Incoming]]) -> list[Outgoing]:
    """The batches through one updater on the test's Redis, as a worker applies them."""

    async def go() -> list[Outgoing]:
        store = UserStateStore(
            outage_client(settings, settings.redis_timeout_s),
            KeyLayout(settings.redis_prefix),
            settings.vector_size,
            settings.user_ttl_s,
            settings.history_length,
        )
        updater = InterestUpdater(settings, store)
        try:
            await updater.start()
            return [await updater.apply(batch) for batch in batches]
        finally:
            await store.aclose()

    return asyncio.run(go())


def recommended(out: Outgoing, user: str) -> list[str]:
    (body,) = [orjson.loads(v) for k, v in out.recommendations if k == user.encode()]
    return [str(i["item_id"]) for i in body["items"]]


def category_of(item: str) -> int:
    return int(item.split("-")[0][1:])


@pytest.fixture
def settings(services: EmbeddedServices) -> Settings:
    settings = isolated_settings(services, vector_size=DIM, top_k=10, followees_max=3)
    plant(settings, {"f1": SOCIAL_CATEGORY, "f2": SOCIAL_CATEGORY, "f3": SOCIAL_CATEGORY})
    return settings


def test_a_new_user_who_follows_is_served_from_their_followees_at_once(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    (out,) = run(settings, [[follow("newbie", f, n) for n, f in enumerate(["f1", "f2", "f3"])]])
    assert out.applied == 3
    assert {category_of(i) for i in recommended(out, "newbie")} == {SOCIAL_CATEGORY}
    capsys.readouterr()
    assert main(["user", "newbie", "--json"], settings) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["events_applied"] == 3 and shown["recent_items"] == []
    assert shown["followees"] == ["f3", "f2", "f1"]  # newest first
    assert 0 <= shown["social_age_s"] < 60
    assert {category_of(i) for i in shown["recommendations"]} == {SOCIAL_CATEGORY}
    assert main(["user", "newbie"], settings) == 0
    assert "follows 3: f3 f2 f1 (social vector " in capsys.readouterr().out


def test_follows_apply_once_replays_are_skipped_and_unfollow_removes_the_influence(
    settings: Settings,
) -> None:
    keys = KeyLayout(settings.redis_prefix)
    first = [follow("u", "f1", 0), follow("u", "f2", 1)]
    later = [follow("u", "f1", 2, "unfollow"), follow("u", "f2", 3, "unfollow")]
    outs = run(settings, [first, first, first + later])
    assert [o.applied for o in outs] == [2, 0, 2] and [o.skipped for o in outs] == [0, 2, 2]
    client = redis.Redis.from_url(settings.redis_url)
    try:
        assert client.exists(keys.followees("u")) == 0  # emptied, at once
        social = decode_vector(client.hget(keys.user("u"), "social"))  # type: ignore[arg-type]
        assert not social.any()  # refreshed by the unfollows: no influence left
        assert client.hget(keys.user("u"), "events_applied") == b"4"
    finally:
        client.close()


def test_the_set_is_bounded_newest_kept_and_ttl_follows_the_user(settings: Settings) -> None:
    keys = KeyLayout(settings.redis_prefix)
    batch = [follow("u", f"x{n}", n) for n in range(5)]  # followees_max is 3
    run(settings, [batch, [view("u", item_id(0, 0), 9)]])
    client = redis.Redis.from_url(settings.redis_url)
    try:
        members = client.zrange(keys.followees("u"), 0, -1)
        assert members == [b"x2", b"x3", b"x4"]
        assert 0 < client.ttl(keys.followees("u")) <= settings.user_ttl_s
    finally:
        client.close()


def test_forget_erases_the_followee_set(settings: Settings) -> None:
    keys = KeyLayout(settings.redis_prefix)
    run(settings, [[follow("gone", "f1", 0)]])
    reader = open_reader(settings)
    try:
        assert reader.get_user("gone") is not None
        assert reader.forget("gone", 60)
        assert reader.client.exists(keys.followees("gone"), keys.user("gone")) == 0
    finally:
        reader.close()


def test_target_ids_are_pseudonymised_like_user_ids(services: EmbeddedServices) -> None:
    settings = isolated_settings(
        services, vector_size=DIM, user_id_key="follow-test-key-of-16+-bytes"
    )
    pseudonym = Pseudonyms(b"follow-test-key-of-16+-bytes")
    run(settings, [[follow("jane@example.org", "joe@example.org", 0)]])
    keys = KeyLayout(settings.redis_prefix)
    client = redis.Redis.from_url(settings.redis_url)
    try:
        members = client.zrange(keys.followees(pseudonym("jane@example.org")), 0, -1)
        assert members == [pseudonym("joe@example.org").encode()]
    finally:
        client.close()


def test_the_social_vector_is_reused_until_due(services: EmbeddedServices) -> None:
    """A stored social vector is reused while younger than social_refresh_s; a
    followee's changed taste shows only at the next refresh."""
    for refresh_s, expect_category in ((3600.0, SOCIAL_CATEGORY), (0.0, 5)):
        settings = isolated_settings(services, vector_size=DIM, social_refresh_s=refresh_s)
        plant(settings, {"f1": SOCIAL_CATEGORY})
        keys = KeyLayout(settings.redis_prefix)
        run(settings, [[follow("u", "f1", 0)]])
        assert int(np.argmax(reader_social(settings, "u"))) == SOCIAL_CATEGORY
        client = redis.Redis.from_url(settings.redis_url)
        client.hset(keys.user("f1"), "long_term", encode_vector(axis(5)))  # f1's taste moved
        client.close()
        run(settings, [[view("u", item_id(7, 0), 1)]])
        assert int(np.argmax(reader_social(settings, "u"))) == expect_category, refresh_s


def reader_social(settings: Settings, user: str) -> np.ndarray:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw = client.hget(KeyLayout(settings.redis_prefix).user(user), "social")
        return decode_vector(raw)  # type: ignore[arg-type]
    finally:
        client.close()


def test_the_social_weight_learns_from_choices_and_is_shared(services: EmbeddedServices) -> None:
    """A user with a long-term taste of their own (category 1) who follows fans of
    category 2 and then chooses category 2 items: the social weight goes up, in Redis."""
    settings = isolated_settings(services, vector_size=DIM, learning_rate=0.0)
    plant(settings, {"f1": SOCIAL_CATEGORY, "regular": OWN_CATEGORY})
    views = [view("regular", item_id(SOCIAL_CATEGORY, r), 1 + r) for r in range(20)]
    run(settings, [[follow("regular", "f1", 0)], views[:10], views[10:], [view("x", "i0", 99)]])
    client = redis.Redis.from_url(settings.redis_url)
    try:
        stored = client.get(KeyLayout(settings.redis_prefix).social_prior())
    finally:
        client.close()
    assert stored is not None and float(stored) > 0


def test_a_shift_names_the_chosen_item_when_follows_come_between(
    services: EmbeddedServices,
) -> None:
    """Shift indices count item events only: a follow before the shifting item in the
    same batch must not make the shift's ``to`` the follow (it has no item)."""
    settings = isolated_settings(
        services, vector_size=DIM, short_term_half_life_s=10.0, learning_rate=0.01
    )
    plant(settings, {"drifter": OWN_CATEGORY, "f1": SOCIAL_CATEGORY})
    batches, offset = [], 0
    for start in range(0, 100, 5):
        batch = [follow("drifter", "f1", offset, "follow" if start % 10 else "unfollow")]
        offset += 1
        for n in range(start, start + 5):
            category = OWN_CATEGORY if n < 60 else 5
            batch.append(view("drifter", item_id(category, n % 10), offset))
            offset += 1
        batches.append(batch)
    shifts = [orjson.loads(v) for out in run(settings, batches) for _, v in out.shifts]
    assert shifts, "the switch to category 5 is detected"
    assert all(category_of(s["to"]) == 5 for s in shifts), shifts


@pytest.mark.slow
def test_follows_on_a_cluster(services: EmbeddedServices, redis_cluster: EmbeddedCluster) -> None:
    """The followee set in the user's slot, the followees' vectors read across slots."""
    settings = isolated_settings(services, redis_url=redis_cluster.url, vector_size=DIM)
    fans = [f"fan{n}" for n in range(6)]
    plant(settings, dict.fromkeys(fans, SOCIAL_CATEGORY))
    client = sync_client(settings)
    keys = KeyLayout(settings.redis_prefix)
    try:
        assert isinstance(client, RedisCluster)
        nodes = {client.get_node_from_key(keys.user(f)).name for f in fans}
        assert len(nodes) > 1, "the followees are on one node; the test proves less"
        batch = [follow("newbie", f, n) for n, f in enumerate(fans)]
        outs = run(settings, [batch, batch, [follow("newbie", "fan0", 9, "unfollow")]])
        assert [o.applied for o in outs] == [6, 0, 1]
        assert {category_of(i) for i in recommended(outs[0], "newbie")} == {SOCIAL_CATEGORY}
        held = client.zrange(keys.followees("newbie"), 0, -1)
        assert sorted(held) == sorted(f.encode() for f in fans[1:])
    finally:
        client.close()


def test_re_ranking_a_cold_users_candidates_uses_their_followees(settings: Settings) -> None:
    run(settings, [[follow("newbie", f, n) for n, f in enumerate(["f1", "f2", "f3"])]])
    candidates = [item_id(c, 0) for c in (0, 1, SOCIAL_CATEGORY, 3)]
    reader = open_reader(settings)
    try:
        got = reader.rerank("newbie", candidates)
        stranger = reader.rerank("stranger", candidates)
    finally:
        reader.close()
    assert got["known_user"] and got["items"][0]["item_id"] == item_id(SOCIAL_CATEGORY, 0)
    assert not stranger["known_user"]
    assert [i["item_id"] for i in stranger["items"]] == candidates  # input order
