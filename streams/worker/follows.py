"""Follow events in the worker: followee-set changes and the social part of the blend.

Per batch attempt, for each user with fresh events:

* their follows and unfollows become ops that the write script applies to the
  followee set in the same atomic step as the user's offset (state.followees),
  so a follow is applied exactly once, under the erasure fence;
* their social vector (models.social) is refreshed when a follow or unfollow
  came, when it is older than ``social_refresh_s``, or when it was computed in
  another model version's item space: the followee set as the write will leave
  it (one round trip), then the followees' vectors (one more); else the stored
  one is reused. A refreshed vector is written with the user;
* the social weight's pairwise gradients of their chosen items are kept, and
  stepped (and sent to Redis with the shared state) only for committed users.

Follow events have no item: they move no short-term vector and have no weight.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from models.blend import MixWeightLearner
from models.explain import InterestParts
from models.gru_step import GRUStepper
from models.online_item_factors import sampled_rows_many
from models.social import SocialWeight, mix_weights, social_vector, with_social
from models.user_interest import UserInterest
from state import StoredUser, UserStore, UserWrite
from state.codec import CodecError, decode_vector
from state.followees import FolloweeReader, FolloweeRow, FollowOp, after_ops
from streams.settings import Settings
from streams.worker.events import Event

log = logging.getLogger(__name__)

FOLLOW = "follow"


class _Located(Protocol):
    @property
    def event(self) -> Event: ...

    @property
    def offset(self) -> int: ...


def pseudonymised(event: Event, pseudonym: Callable[[str], str]) -> Event:
    """The event with its user id, and a follow's target, replaced by their pseudonyms."""
    target = event.target_user_id
    return dataclasses.replace(
        event,
        user_id=pseudonym(event.user_id),
        target_user_id=None if target is None else pseudonym(target),
    )


def follow_ops(fresh: Sequence[_Located]) -> list[FollowOp]:
    """A user's follows and unfollows, in order."""
    return [
        FollowOp(x.event.type == FOLLOW, x.event.target_user_id, x.event.ts)
        for x in fresh
        if x.event.target_user_id is not None
    ]


def followee_vector(
    row: FolloweeRow, version: str, stepper: GRUStepper | None, dim: int
) -> np.ndarray | None:
    """A followee's interest in the current item space: their stepped long-term vector,
    else the refresh's, else their short-term one; None when none is of this version."""
    try:
        if stepper is not None and row.long_term_state and row.long_term_state_version == version:
            state = decode_vector(row.long_term_state)
            if state.size == stepper.layers * stepper.hidden:
                out: np.ndarray = stepper.output(state.reshape(stepper.layers, stepper.hidden))
                return out
        if row.long_term and row.long_term_version == version:
            return decode_vector(row.long_term, dim)
        if row.short_term and row.model_version == version:
            return decode_vector(row.short_term, dim)
    except CodecError:
        return None
    return None


@dataclass(slots=True)
class SocialPlan:
    """One user's follow ops of this attempt, the social vector to rank with, and
    when it was refreshed (None: the stored one, not written again)."""

    ops: list[FollowOp] = field(default_factory=list)
    vector: np.ndarray | None = None
    refreshed_at: float | None = None


class SocialPart:
    """The worker's follow handling; one per worker, state only between attempts."""

    def __init__(self, settings: Settings, reader: FolloweeReader | None) -> None:
        self.bound = settings.followees_max
        self.refresh_s = settings.social_refresh_s
        self.dim = settings.vector_size
        self.reader = reader
        self.weight = SocialWeight()
        self.pending = 0.0  # logit steps of committed users not yet in Redis
        self.refreshes = 0  # social vectors computed (for logs and tests)
        self.plans: list[SocialPlan] = []
        self._gradients = np.zeros(0)

    @classmethod
    def for_store(cls, settings: Settings, store: UserStore) -> SocialPart:
        """On the store's Redis client; without one (the in-memory store of unit tests)
        follows are applied to the set but no social vector is computed."""
        client, keys = getattr(store, "client", None), getattr(store, "keys", None)
        return cls(settings, FolloweeReader(client, keys) if client and keys else None)

    # -- before the fold -------------------------------------------------------

    async def plan(
        self,
        users: Sequence[StoredUser],
        fresh: Sequence[Sequence[_Located]],
        version: str,
        stepper: GRUStepper | None,
    ) -> list[SocialPlan]:
        """Each user's plan; reads Redis only for the users whose vector is due."""
        now = time.time()
        plans = [SocialPlan(follow_ops(f), u.social) for u, f in zip(users, fresh, strict=True)]
        due = [i for i, u in enumerate(users) if self._due(u, plans[i], now, version)]
        if due and self.reader is not None:
            await self._refresh(
                self.reader, [(users[i].user_id, plans[i]) for i in due], version, stepper
            )
            for i in due:
                plans[i].refreshed_at = now
            self.refreshes += len(due)
        self.plans = plans
        return plans

    async def _refresh(
        self,
        reader: FolloweeReader,
        due: list[tuple[str, SocialPlan]],
        version: str,
        stepper: GRUStepper | None,
    ) -> None:
        """The due users' vectors from their sets as the write will leave them."""
        sets = await reader.followees([user_id for user_id, _ in due])
        after = {uid: after_ops(sets[uid], plan.ops, self.bound) for uid, plan in due}
        rows = await reader.rows(sorted({t for held in after.values() for t in held}))
        for uid, plan in due:
            held = (
                followee_vector(rows[t], version, stepper, self.dim)
                for t in after[uid]
                if t in rows
            )
            plan.vector = social_vector([v for v in held if v is not None], self.dim)

    def _due(self, user: StoredUser, plan: SocialPlan, now: float, version: str) -> bool:
        if plan.ops:
            return True
        if user.social_at is None:
            return False  # never followed anyone
        return now - user.social_at >= self.refresh_s or user.model_version != version

    # -- scoring and learning ----------------------------------------------------

    def mixed(
        self, parts: InterestParts, mix: MixWeightLearner, users: Sequence[UserInterest]
    ) -> InterestParts:
        """``parts`` of the planned users with their social vectors in the long-term side."""
        if not any(p.vector is not None for p in self.plans):
            return parts
        social = np.zeros((len(self.plans), self.dim), np.float32)
        for i, p in enumerate(self.plans):
            if p.vector is not None:
                social[i] = p.vector
        return with_social(parts, social, self.weight.weight, mix_weights(mix, users))

    def observe(
        self,
        before: Sequence[UserInterest],
        own_long: Callable[[UserInterest], np.ndarray | None],
        fresh: Sequence[Sequence[_Located]],
        rows_of: Callable[[str], int],
        items: np.ndarray,
        weights: Mapping[str, float],
        negatives: int,
    ) -> None:
        """Gradients of the social weight from the chosen items of users who have both a
        social vector and a long-term one of their own (kept until :meth:`commit`)."""
        self._gradients = np.zeros(len(before))
        owner, chosen, keys, social, own = [], [], [], [], []
        for i, (user, plan) in enumerate(zip(before, self.plans, strict=True)):
            if plan.vector is None or not plan.vector.any():
                continue
            long = own_long(user)
            if long is None or not long.any():
                continue
            for x in fresh[i]:
                if x.event.is_item and weights.get(x.event.type, 0.0) > 0:
                    owner.append(i)
                    chosen.append(rows_of(x.event.item_id))
                    keys.append(x.offset)
                    social.append(plan.vector)
                    own.append(long)
        if not owner or len(items) < 2:
            return
        sampled = sampled_rows_many(len(items), np.array(keys), negatives, first=1)
        gradients = self.weight.gradients(
            np.stack(social), np.stack(own), items, np.array(chosen), sampled
        )
        np.add.at(self._gradients, np.array(owner), gradients)

    def commit(self, committed: np.ndarray) -> None:
        """Step the social weight from the committed users' gradients, once."""
        if self._gradients.size != committed.size:
            return
        before = self.weight.logit
        self.weight.step(float(self._gradients[committed].sum()))
        self.pending += self.weight.logit - before
        self._gradients = np.zeros(0)

    def annotate(self, writes: Sequence[UserWrite]) -> list[UserWrite]:
        """The writes with each user's follow ops and refreshed social vector."""
        return [
            w
            if not p.ops and p.refreshed_at is None
            else dataclasses.replace(
                w,
                follows=p.ops,
                followee_bound=self.bound,
                social=p.vector if p.refreshed_at is not None else None,
                social_at=p.refreshed_at,
            )
            for w, p in zip(writes, self.plans, strict=True)
        ]

    # -- the shared weight -------------------------------------------------------

    def sent(self, delta: float, stored: float | None) -> None:
        """``delta`` of the pending steps is in Redis; ``stored``: every worker's so far."""
        self.pending -= delta
        if stored is not None:
            self.set_prior(stored)

    def set_prior(self, stored: float) -> None:
        """The weight as every worker moved it (Redis) plus this worker's unsent steps."""
        self.weight.set_logit(self.weight.initial_logit + stored + self.pending)

    async def load_prior(self) -> None:
        if self.reader is not None:
            self.set_prior(await self.reader.load_prior())
