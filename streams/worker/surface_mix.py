"""The worker's side of surfaces: per-surface mix weights read, stepped, stored and shared.

Each event carries a surface (``context.surface``; none: the default one).
The fold steps the user's offset and the global prior of the event's surface
(:mod:`models.surfaces`). Here: the stored offsets go into the fold, the
recommendation takes the surface of the user's last event, the new offsets
and weights of the surfaces a user acted on go back into their hash
(``surface_mix``), and the global priors of the non-default surfaces are
shared through Redis like the default one's (``ie:mix:prior:<surface>``):
each worker adds its committed steps and scores with everyone's sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from models.blend import MixWeightLearner
from models.interest_model import FoldedBatch, UserInterest
from models.surfaces import SurfaceSet
from state import StoredUser
from state.user_store import encode_surface_mix
from streams.worker.events import Event


class _HasEvent(Protocol):
    @property
    def event(self) -> Event: ...


class SurfaceMixing:
    """Per-surface offsets in and out of the fold, and the non-default priors' unsent steps."""

    def __init__(self, names: Sequence[str]) -> None:
        self.surfaces = SurfaceSet(tuple(names))
        # Steps of the non-default surfaces' priors of committed writes, not yet in Redis.
        self.pending = np.zeros(len(self.surfaces) - 1, np.float64)

    @property
    def others(self) -> tuple[str, ...]:
        """The non-default surfaces, whose priors live under their own keys."""
        return self.surfaces.names[1:]

    def learner(self, **kwargs: float) -> MixWeightLearner:
        return MixWeightLearner(surfaces=len(self.surfaces), **kwargs)

    def index(self, event: Event) -> int:
        return self.surfaces.index(event.surface)

    def interest(self, stored: StoredUser, interest: UserInterest) -> UserInterest:
        """The user as the fold takes them: with their offsets on every surface."""
        if not stored.surface_mix:
            return interest
        return replace(interest, surface_offsets=self.surfaces.offsets_of(stored.surface_mix))

    def last_surfaces(
        self, folded: FoldedBatch, fresh_events: Sequence[Sequence[_HasEvent]]
    ) -> None:
        """Each folded user takes the surface of their batch's last event (searches
        included), in place: their recommendation is made with that surface's weight."""
        for i, fresh in enumerate(fresh_events):
            surface = self.index(fresh[-1].event)
            if folded.users[i].surface != surface:
                folded.users[i] = replace(folded.users[i], surface=surface)

    def name(self, user: UserInterest) -> str:
        return self.surfaces.name(min(user.surface, len(self.surfaces) - 1))

    def stored(
        self,
        before: StoredUser,
        after: UserInterest,
        fresh: Sequence[_HasEvent],
        mix: MixWeightLearner,
    ) -> bytes:
        """The ``surface_mix`` field to write: the non-default surfaces the user acted on
        (before or now), bounded by the configured list; empty: leave the field as is."""
        acted = {self.index(x.event) for x in fresh} - {0}
        acted |= {self.surfaces.index(n) for n in before.surface_mix if n in self.others}
        if not acted:
            return b"{}" if before.surface_mix else b""
        offsets, weights = {}, {}
        for surface in sorted(acted):
            name = self.surfaces.name(surface)
            offset = (
                after.surface_offsets[surface - 1]
                if surface - 1 < len(after.surface_offsets)
                else 0.0
            )
            offsets[name] = offset
            weights[name] = float(mix.weights(np.array([offset]), np.array([surface]))[0])
        return encode_surface_mix(offsets, weights)

    # -- the shared priors of the non-default surfaces ---------------------------

    def committed(self, before: np.ndarray, mix: MixWeightLearner) -> None:
        """Steps the commit just made to the non-default priors, to send with the next write."""
        self.pending += (mix.global_logit - before)[1:]

    def deltas(self) -> dict[str, float]:
        return {n: float(d) for n, d in zip(self.others, self.pending.tolist(), strict=True) if d}

    def sent(
        self, deltas: Mapping[str, float], priors: Mapping[str, float], mix: MixWeightLearner
    ) -> None:
        """``deltas`` are in Redis, whose sums (everyone's steps) are ``priors``."""
        for n, name in enumerate(self.others):
            self.pending[n] -= deltas.get(name, 0.0)
        self.set_priors(priors, mix)

    def set_priors(self, priors: Mapping[str, float], mix: MixWeightLearner) -> None:
        """Score with the stored sums plus this worker's unsent steps."""
        for n, name in enumerate(self.others):
            if name in priors:
                mix.global_logit[n + 1] = mix.initial_logit + priors[name] + self.pending[n]
