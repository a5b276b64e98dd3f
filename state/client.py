"""Read client for downstream Python apps: one lookup per user."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from models.surfaces import DEFAULT_SURFACES
from state.codec import decode_json, decode_vector
from state.connection import RedisEndpoint, SyncClient, sync_client
from state.erasure import ErasureFence
from state.keys import Field, KeyLayout
from state.surface_weights import weights_by_surface

if TYPE_CHECKING:
    from models.gru_step import GRUStepper

FORGET_SCRIPT = resources.files("state").joinpath("forget_user.lua").read_text()


@dataclass(frozen=True, slots=True)
class UserState:
    """What the service knows about one user, as stored."""

    user_id: str
    events_applied: int
    last_event_ts: float | None
    model_version: str | None
    recommendations: list[dict[str, Any]]
    recent_items: list[str]
    short_term: np.ndarray
    last_topic: str | None
    last_partition: int | None
    last_offset: int | None
    long_term: np.ndarray | None = None
    long_term_version: str | None = None
    mix_weight: float | None = None
    surface: str | None = None  # the surface the recommendations are for
    mix_weights: dict[str, float] = field(default_factory=dict)  # the user's, per surface
    followees: list[str] | None = None  # whom the user follows, newest first (as stored)
    social_at: float | None = None  # when their social vector was last computed

    def to_json(self) -> dict[str, Any]:
        """The shape of ``interests user ID --json``."""
        return {
            "user_id": self.user_id,
            "events_applied": self.events_applied,
            "last_event_ts": self.last_event_ts,
            "model_version": self.model_version,
            "recommendations": [r["item_id"] for r in self.recommendations],
            "scores": [r["score"] for r in self.recommendations],
            # Per item: long/short shares of its score and the recent item it is nearest.
            "why": [r.get("why") for r in self.recommendations],
            "recent_items": self.recent_items,
            "short_term": [float(x) for x in self.short_term],
            "last_topic": self.last_topic,
            "last_partition": self.last_partition,
            "last_offset": self.last_offset,
            "long_term": None if self.long_term is None else [float(x) for x in self.long_term],
            "long_term_version": self.long_term_version,
            "mix_weight": self.mix_weight,
            "surface": self.surface,
            "mix_weights": self.mix_weights,
            "followees": self.followees or [],
            "social_at": self.social_at,
            "social_age_s": None
            if self.social_at is None
            else round(max(0.0, time.time() - self.social_at), 3),
        }


def items_with_why(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A recommendation message's items, each with its own ``why`` (``long``, ``short``,
    ``near``) from the message's aligned ``why`` arrays: the shape readers show.

    >>> a, b = items_with_why({"items": [{"item_id": "a"}, {"item_id": "b"}],
    ...                        "why": {"long": [0.25, 1.0], "near": ["x", None]}})
    >>> a["why"], b["why"]
    ({'long': 0.25, 'short': 0.75, 'near': 'x'}, {'long': 1.0, 'short': 0.0})
    """
    items = [dict(i) for i in message.get("items", []) if isinstance(i, dict)]
    why = message.get("why")
    if not isinstance(why, dict):
        return items
    longs, nears = why.get("long") or [], why.get("near") or []
    for item, long_share, near in zip(items, longs, nears, strict=False):
        reason: dict[str, Any] = {"long": long_share, "short": round(1.0 - long_share, 2)}
        if near is not None:
            reason["near"] = near
        item["why"] = reason
    return items


class InterestReader:
    """Reads and deletes users; safe to share across threads (redis-py pool).

    >>> reader = InterestReader.from_url("redis://127.0.0.1:1/0")  # connects lazily
    """

    def __init__(
        self,
        client: SyncClient,
        keys: KeyLayout | None = None,
        pseudonyms: Callable[[str], str] | None = None,
        surfaces: Sequence[str] = DEFAULT_SURFACES,
    ) -> None:
        self.client = client
        self.keys = keys or KeyLayout()
        # The configured surfaces (INTERESTS_SURFACES), the first the default one.
        self.surfaces = tuple(surfaces)
        # Where the service pseudonymises user ids (state.pseudonym), the reader is given
        # the same keyed map: callers pass raw ids, Redis is asked for the pseudonym.
        self.pseudonym: Callable[[str], str] = pseudonyms or _same
        # EVALSHA, loaded on first use (SCRIPT LOAD) and again after NOSCRIPT.
        self._forget_script = client.register_script(FORGET_SCRIPT)
        # The GRU step of the last model versions read (None: the version has none).
        self._steppers: dict[str, GRUStepper | None] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        prefix: str = "ie:",
        pseudonyms: Callable[[str], str] | None = None,
        surfaces: Sequence[str] = DEFAULT_SURFACES,
    ) -> InterestReader:
        """Plain URL only; TLS files go through :func:`state.connection.sync_client`."""
        return cls(sync_client(RedisEndpoint(url)), KeyLayout(prefix), pseudonyms, surfaces)

    def by_held_id(self) -> InterestReader:
        """The same store addressed by the ids Redis holds (pseudonyms where they are on):
        what a listing of stored users, such as the dashboard's, links to."""
        return InterestReader(self.client, self.keys)

    def close(self) -> None:
        self.client.close()

    def surface(self, name: str | None) -> str:
        """A configured surface by name (None: the default); ValueError for another."""
        if name is None:
            return self.surfaces[0]
        if name not in self.surfaces:
            raise ValueError(f"unknown surface {name!r} (known: {', '.join(self.surfaces)})")
        return name

    def get_user(self, user_id: str, surface: str | None = None) -> UserState | None:
        """The user's state, or None when the service holds nothing on them.

        With a ``surface`` other than the one the stored list was made for, the
        list is that list re-ordered with the user's weight on ``surface``
        (:meth:`rerank`): the candidates stay the latest list's.
        """
        wanted = self.surface(surface)
        held_as = self.pseudonym(user_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.keys.user(held_as))
        pipe.zrangebyscore(self.keys.followees(held_as), "-inf", "+inf")
        for name in self.surfaces[1:]:
            pipe.get(self.keys.surface_prior(name))
        row, followees, *prior_rows = pipe.execute()
        if not row:
            return None
        fields = {k.decode(): v for k, v in row.items()}
        priors = dict(zip(self.surfaces[1:], prior_rows, strict=True))
        held = self._user_state(user_id, fields, priors, followees)
        if surface is None or held.surface == wanted or not held.recommendations:
            return held
        items = [str(r["item_id"]) for r in held.recommendations]
        ranked = self.rerank(user_id, items, wanted)["items"]
        recs = [{"item_id": r["item_id"], "score": r["score"]} for r in ranked]
        return replace(held, recommendations=recs, surface=wanted)

    def _user_state(
        self,
        user_id: str,
        fields: dict[str, bytes],
        priors: dict[str, bytes | None],
        followees: list[bytes],
    ) -> UserState:
        recs = decode_json(fields.get(Field.RECOMMENDATIONS), {})
        st = fields.get(Field.SHORT_TERM)
        return UserState(
            user_id=user_id,
            events_applied=int(fields.get(Field.EVENTS_APPLIED, b"0")),
            last_event_ts=_float(fields.get(Field.LAST_EVENT_TS)),
            model_version=_text(fields.get(Field.MODEL_VERSION)),
            recommendations=items_with_why(recs),
            recent_items=list(decode_json(fields.get(Field.RECENT_ITEMS), [])),
            short_term=decode_vector(st) if st else np.zeros(0, np.float32),
            last_topic=_text(fields.get(Field.LAST_TOPIC)),
            last_partition=_int(fields.get(Field.LAST_PARTITION)),
            last_offset=_int(fields.get(Field.LAST_OFFSET)),
            long_term=decode_vector(lt) if (lt := fields.get(Field.LONG_TERM)) else None,
            long_term_version=_text(fields.get(Field.LONG_TERM_VERSION)),
            mix_weight=_float(fields.get(Field.MIX_WEIGHT)),
            surface=str(recs.get("surface") or self.surfaces[0]),
            mix_weights=weights_by_surface(
                self.surfaces,
                fields.get(Field.MIX_WEIGHT),
                fields.get(Field.SURFACE_MIX),
                priors,
            ),
            followees=[m.decode() for m in reversed(followees)],
            social_at=_float(fields.get(Field.SOCIAL_AT)),
        )

    def trending(self) -> list[str]:
        """What new users are shown: time-decayed popular items, best first."""
        raw = self.client.get(self.keys.trending())
        body = decode_json(raw if isinstance(raw, bytes) else None, {})
        return [str(i) for i in body.get("items", [])]

    def recommendations_for(self, user_id: str, surface: str | None = None) -> list[str]:
        """The user's latest recommendations (for ``surface``: see :meth:`get_user`),
        or trending items for a new user."""
        user = self.get_user(user_id, surface)
        if user is not None and user.recommendations:
            return [str(r["item_id"]) for r in user.recommendations]
        return self.trending()

    def rerank(
        self, user_id: str, candidate_item_ids: Sequence[str], surface: str | None = None
    ) -> dict[str, Any]:
        """The candidates ordered for the user, with scores and explanations.

        ``{"user_id", "known_user", "model_version", "surface", "items": [{"item_id",
        "score", "because", "input_rank"}]}``; items the model has no vector for (and
        every item of a user it has never seen) keep their input order, after the
        others. The blend takes the user's weight on ``surface`` (None: the default).
        """
        wanted = self.surface(surface)
        from models.rerank import rerank  # the math; the client stays light to import
        from models.social import SocialWeight, long_side
        from state.rerank import read_rerank_input

        got = read_rerank_input(
            self.client,
            self.keys,
            self.pseudonym(user_id),
            candidate_item_ids,
            self.surfaces,
            wanted,
        )
        long_term = self._long_term_now(got.model_version, got.long_term_state, got.long_term)
        ranked = rerank(
            candidate_item_ids,
            got.vectors,
            got.short_term,
            long_side(long_term, got.social, SocialWeight.stored(got.social_change).weight),
            got.long_term_weight,
            got.recent,
        )
        return {
            "user_id": user_id,
            "known_user": got.known_user,
            "model_version": got.model_version,
            "surface": wanted,
            "items": [r.to_json() for r in ranked],
        }

    def _long_term_now(
        self, version: str | None, state: np.ndarray | None, refreshed: np.ndarray | None
    ) -> np.ndarray | None:
        """The long-term vector the worker ranks with: the version's GRU read-out of the
        user's stepped state, else the refresh's vector (no step, or a state of another
        shape)."""
        if version is None or state is None:
            return refreshed
        if version not in self._steppers:
            from models.gru_step import GRUStepper

            if len(self._steppers) >= 2:  # a long-lived reader sees a version per refresh
                self._steppers.clear()
            raw: bytes | None = self.client.get(self.keys.gru_step(version))  # type: ignore[assignment]
            try:
                self._steppers[version] = GRUStepper.from_bytes(raw) if raw else None
            except ValueError:
                self._steppers[version] = None
        stepper = self._steppers[version]
        if stepper is None or state.size != stepper.rows * stepper.hidden:
            return refreshed
        out: np.ndarray = stepper.output(state.reshape(stepper.rows, stepper.hidden))
        return out

    def forget(self, user_id: str, fence_s: int, fence: ErasureFence | None = None) -> bool:
        """Delete every key held on the user and fence them for ``fence_s`` seconds;
        True when there was something.

        While the fence lives, a worker's write that read the user before this
        call loses its compare-and-set, workers skip the events ``fence`` says
        were in the log already, and the trainer's publish skips the user.
        Without ``fence`` (no Kafka at hand) no event is skipped: events not
        yet applied make a new user. ``interests forget`` passes the cut-off.
        """
        stored = fence or ErasureFence.new("", {})
        held_as = self.pseudonym(user_id)
        keys = (
            self.keys.erasure(held_as),
            self.keys.user(held_as),
            self.keys.history(held_as),
            self.keys.trail(held_as),
            self.keys.followees(held_as),
        )
        held = self._forget_script(keys=keys, args=[fence_s, stored.encode()], client=self.client)
        return bool(held)


def _same(user_id: str) -> str:
    return user_id


def _float(raw: bytes | None) -> float | None:
    return float(raw) if raw else None


def _int(raw: bytes | None) -> int | None:
    return int(raw) if raw else None


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw else None
