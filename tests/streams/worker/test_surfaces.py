"""Surfaces in the batch path: validated, a mix weight per user and surface, stored once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.surfaces import MAX_SURFACE_LENGTH, check_surface_name
from state import SharedWrite, StoredUser, UserWrite, WriteOutcome
from state.codec import encode_vector
from state.user_store import surface_mix_entries
from streams.settings import Settings, SettingsError
from streams.worker.events import Event, EventRules, Rejection, decode_event
from streams.worker.interest_updater import Incoming, InterestUpdater, Outgoing
from tests.support.memory_store import MemoryStore

TOPIC = "interactions"
SURFACES = ("home", "search", "product")
RULES = EventRules(frozenset({"view"}), surfaces=SURFACES)
DIM = 8


def raw(**body: object) -> bytes:
    return orjson.dumps({"user_id": "u", "item_id": "i", "type": "view", "ts": 1.0, **body})


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        ([1], "context must be a JSON object, not list"),
        ({"surface": 5}, "context.surface must be a string, not int"),
        ({"surface": ""}, "context.empty surface"),
        ({"surface": "x" * 33}, f"context.surface longer than {MAX_SURFACE_LENGTH} characters"),
        (
            {"surface": "Home Feed"},
            "context.surface 'Home Feed' is not lower-case a-z, 0-9, '_', '.', '-'",
        ),
        ({"surface": "cart"}, "unknown surface 'cart' (known: home, search, product)"),
    ],
)
def test_a_bad_surface_is_rejected_with_its_reason(context: object, reason: str) -> None:
    assert decode_event(raw(context=context), RULES, now=10.0) == Rejection(reason)


def test_a_surface_is_optional_and_round_trips() -> None:
    plain = decode_event(raw(), RULES, now=10.0)
    assert isinstance(plain, Event) and plain.surface is None
    assert decode_event(raw(context={}), RULES, now=10.0) == plain
    assert decode_event(raw(context={"other": 1}), RULES, now=10.0) == plain
    on_search = decode_event(raw(context={"surface": "search"}), RULES, now=10.0)
    assert isinstance(on_search, Event) and on_search.surface == "search"
    assert decode_event(on_search.to_json(), RULES, now=10.0) == on_search


@given(
    st.one_of(
        st.text(max_size=40), st.integers(-(2**40), 2**40), st.none(), st.lists(st.booleans())
    )
)
def test_any_surface_decodes_to_an_event_or_a_reason(value: object) -> None:
    decoded = decode_event(raw(context={"surface": value}), RULES, now=10.0)
    if isinstance(decoded, Event):
        assert decoded.surface is None or decoded.surface in SURFACES
    else:
        assert decoded.reason


@given(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,31}", fullmatch=True))
def test_every_well_formed_name_is_a_surface(name: str) -> None:
    assert check_surface_name(name) == name


def test_the_surfaces_setting_is_validated() -> None:
    assert Settings.from_env({"INTERESTS_SURFACES": "feed, search"}).surface_names == (
        "feed",
        "search",
    )
    for bad in ("", "Feed", ",".join(f"s{n}" for n in range(17))):
        with pytest.raises(SettingsError, match="INTERESTS_SURFACES"):
            Settings.from_env({"INTERESTS_SURFACES": bad})


# -- the batch path -------------------------------------------------------------------


def event(user: str, item: str, offset: int, surface: str | None = None) -> Incoming:
    body: dict[str, object] = {"user_id": user, "item_id": item, "type": "view"}
    body["ts"] = 1000.0 + offset
    if surface is not None:
        body["context"] = {"surface": surface}
    return Incoming(TOPIC, 0, offset, orjson.dumps(body), user.encode())


def updater_with_users(
    users: list[str], store: MemoryStore | None = None
) -> tuple[InterestUpdater, MemoryStore]:
    """Items of two kinds (axis 0 and axis 1); every user's long-term taste is kind 0."""
    rng = np.random.default_rng(0)
    store = store or MemoryStore()
    store.version = "v1"
    vectors = {}
    for n in range(40):
        base = np.eye(DIM, dtype=np.float32)[n % 2]
        vectors[f"i{n}"] = base + 0.05 * rng.standard_normal(DIM).astype(np.float32)
    store.items["v1"] = {i: encode_vector(v) for i, v in vectors.items()}
    for user in users:
        store.users[user] = StoredUser(
            user, long_term=np.eye(DIM, dtype=np.float32)[0], long_term_version="v1"
        )
    settings = Settings.from_env(
        {},
        vector_size=DIM,
        top_k=5,
        redis_retry_max_s=0.01,
        surfaces=",".join(SURFACES),
        text_model="hashed",
    )
    return InterestUpdater(settings, store), store


def run(updater: InterestUpdater, batches: list[list[Incoming]]) -> list[Outgoing]:
    async def go() -> list[Outgoing]:
        await updater.start()
        return [await updater.apply(b) for b in batches]

    return asyncio.run(go())


def two_tastes(users: list[str], events: int = 60) -> list[Incoming]:
    """On the home feed users pick kind-0 items (their long-term taste); on the search
    page kind-1 items (what they look for now)."""
    out = []
    for n in range(events):
        user = users[n % len(users)]
        surface = "search" if (n // len(users)) % 2 else None
        item = f"i{2 * (n % 20) + (1 if surface else 0)}"
        out.append(event(user, item, n, surface))
    return out


def test_each_surface_learns_its_own_weight_and_the_user_keeps_both() -> None:
    users = ["u1", "u2"]
    updater, store = updater_with_users(users)
    # Shared steps go with the next write: a user without long-term (no mix step) sends them.
    out = run(updater, [two_tastes(users), [event("new", "i0", 100)]])
    assert out[0].applied == 60 and not out[0].dead_letters
    for user in users:
        stored = store.users[user]
        own = stored.surface_mix
        assert set(own) == {"search"}  # only the surfaces acted on; home is mix_offset
        assert own["search"] < stored.mix_offset  # search leans to short-term, home long-term
    mix = updater.mix
    assert mix.global_logit[1] < mix.global_logit[0]  # the search prior moved down
    assert mix.global_logit[2] == mix.initial_logit  # nobody was on a product page
    assert store.surface_priors["search"] == pytest.approx(mix.global_logit[1])
    assert store.mix_prior == pytest.approx(mix.global_logit[0])


class RecordingStore(MemoryStore):
    """Keeps each user's last written ``surface_mix`` field, as Redis would hold it."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, bytes] = {}

    async def write(self, writes: Sequence[UserWrite], shared: SharedWrite) -> WriteOutcome:
        outcome = await super().write(writes, shared)
        for w, ok in zip(writes, outcome.committed, strict=True):
            if ok and w.surface_mix:
                self.fields[w.before.user_id] = w.surface_mix
        return outcome


def test_the_weight_is_stored_per_surface_and_the_message_says_which() -> None:
    updater, store = updater_with_users(["u1"], RecordingStore())
    out = run(updater, [two_tastes(["u1"], 8), [event("u1", "i3", 8, "product")]])
    entries = surface_mix_entries(store.fields["u1"])  # type: ignore[attr-defined]
    assert set(entries) == {"search", "product"}
    for index, name in ((1, "search"), (2, "product")):
        offset, weight = entries[name]
        learned = updater.mix.weights(np.array([offset]), np.array([index]))[0]
        assert weight == pytest.approx(learned, abs=0.01)  # the prior before the last step
    first = orjson.loads(out[0].recommendations[0][1])
    assert first["surface"] == "search"  # the batch's last event (n = 7) was a search
    assert orjson.loads(out[1].recommendations[0][1])["surface"] == "product"


def test_events_without_a_surface_change_nothing_for_their_producers() -> None:
    store = RecordingStore()
    updater, _ = updater_with_users(["u1"], store)
    out = run(updater, [[event("u1", f"i{2 * n}", n) for n in range(10)]])
    assert store.users["u1"].surface_mix == {}
    assert store.fields == {}  # no surface_mix field written
    assert store.surface_priors == {}
    assert orjson.loads(out[0].recommendations[0][1])["surface"] == "home"


def test_a_replayed_batch_steps_surface_weights_once() -> None:
    users = ["u1", "u2"]
    batch = two_tastes(users, 40)
    once, once_store = updater_with_users(users)
    run(once, [batch])
    twice, twice_store = updater_with_users(users)
    out = run(twice, [batch, batch])
    assert out[1].applied == 0 and out[1].skipped == 40
    for user in users:
        assert twice_store.users[user].surface_mix == once_store.users[user].surface_mix
    np.testing.assert_array_equal(twice.mix.global_logit, once.mix.global_logit)
    assert twice_store.surface_priors == once_store.surface_priors


def test_a_write_conflict_steps_the_surface_priors_once() -> None:
    users = ["u1", "u2"]
    batches = [two_tastes(users, 40), [event("new", "i0", 100)]]
    clean, clean_store = updater_with_users(users)
    run(clean, batches)
    # Every user conflicts once, so the retry folds from the same shared state as the
    # clean run: any double step of a surface's prior shows as a difference.
    conflicted, store = updater_with_users(users)
    store.conflicts = set(users)
    run(conflicted, batches)
    assert store.writes >= 3, "the conflict was never retried; the test proved nothing"
    np.testing.assert_allclose(conflicted.mix.global_logit, clean.mix.global_logit, rtol=1e-6)
    assert store.surface_priors == pytest.approx(clean_store.surface_priors)
    assert store.users["u1"].surface_mix == pytest.approx(clean_store.users["u1"].surface_mix)


def test_a_surface_dropped_from_the_setting_is_dropped_from_the_user() -> None:
    updater, store = updater_with_users(["u1"])
    run(updater, [two_tastes(["u1"], 8)])
    narrowed = Settings.from_env(
        {}, vector_size=DIM, top_k=5, redis_retry_max_s=0.01, text_model="hashed"
    )
    again = InterestUpdater(narrowed, store)
    out = run(again, [[event("u1", "i0", 100)]])
    assert out[0].applied == 1
    assert store.users["u1"].surface_mix == {}
