"""The social part of a user's interest: the mean interest of whom they follow.

A user's social vector is the mean of their followees' unit interest vectors
(each followee's long-term vector where the model has one, else their
short-term one). It joins the **long-term side** of the blend:

``long' = (1 − s)·unit(lt) + s·unit(social)``, and ``long'`` = unit(social)
for a user without a long-term vector of their own,

and the blend then mixes ``long'`` with the short-term vector as before
(:func:`models.blend.blend_rows`). So a new user who follows someone and has
done nothing else is ranked by their followees' taste, and their first
interactions are blended with it by the usual mix weight.

``s = sigmoid(g)`` is one global weight learned online like the blend's
prior: after each chosen item of a user who has both a social and an own
long-term vector, one pairwise (BPR) step on the score margins of the chosen
item over sampled items under unit(social) against unit(lt). The worker
steps ``g`` only from committed writes and shares it through Redis, as it
does the mix prior.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.blend import MixWeightLearner, unit_rows
from models.explain import InterestParts, effective_weights
from models.surfaces import current_offsets
from models.user_interest import UserInterest

SOCIAL_PRIOR = 0.3
"""The social weight ``s`` before any learning (a followee is a weaker signal than oneself)."""


def social_vector(followee_vectors: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """The mean of the followees' unit vectors; zeros when none (or all zero).

    >>> social_vector([np.array([2.0, 0.0]), np.array([0.0, 1.0])], 2).tolist()
    [0.5, 0.5]
    >>> social_vector([], 2).tolist()
    [0.0, 0.0]
    """
    if not followee_vectors:
        return np.zeros(dim, np.float32)
    rows, norms = unit_rows(np.stack(followee_vectors).astype(np.float32))
    if not (norms > 0).any():
        return np.zeros(dim, np.float32)
    mean: np.ndarray = rows[norms > 0].mean(axis=0).astype(np.float32)
    return mean


def mix_weights(mix: MixWeightLearner, users: Sequence[UserInterest]) -> np.ndarray:
    """Each user's long-term weight on the surface of their last event, before missing
    sides are resolved (as :meth:`models.interest_model.InterestModel.interest_parts`)."""
    surfaces = np.fromiter((u.surface for u in users), np.intp, len(users))
    surfaces = np.minimum(surfaces, mix.surface_count - 1)
    offsets = current_offsets(
        [u.mix_offset for u in users], [u.surface_offsets for u in users], surfaces.tolist()
    )
    return mix.weights(offsets, surfaces)


def with_social(
    parts: InterestParts, social: np.ndarray, weight: float, mix_weights: np.ndarray
) -> InterestParts:
    """``parts`` with each user's social row (zero = none) mixed into the long-term side.

    ``mix_weights`` are the users' long-term weights before missing sides are
    resolved (a user who had no long-term side gets one now).

    >>> parts = InterestParts(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 0.0]] * 2),
    ...                       np.array([0.0, 1.0]))
    >>> mixed = with_social(parts, np.array([[0.0, 2.0], [0.0, 2.0]]), 0.25, np.array([0.5, 0.5]))
    >>> mixed.long_term.tolist(), mixed.weights.tolist()
    ([[0.0, 1.0], [0.75, 0.25]], [1.0, 1.0])
    """
    social_unit, social_norm = unit_rows(np.asarray(social, np.float32))
    has_social = social_norm > 0
    if not has_social.any():
        return parts
    own, own_norm = unit_rows(parts.long_term.astype(np.float32, copy=False))
    s = np.where(own_norm > 0, weight, 1.0).astype(np.float32)[:, None]
    mixed = (1.0 - s) * own + s * social_unit
    long = np.where(has_social[:, None], mixed, parts.long_term).astype(np.float32)
    weights = np.where(
        has_social, effective_weights(long, parts.short_term, mix_weights), parts.weights
    )
    return InterestParts(long, parts.short_term, weights)


def long_side(
    own: np.ndarray | None, social: np.ndarray | None, weight: float
) -> np.ndarray | None:
    """One user's long-term side with their social vector in it (:func:`with_social`'s rule);
    None when they have neither.

    >>> long_side(np.array([2.0, 0.0]), np.array([0.0, 1.0]), 0.25).tolist()
    [0.75, 0.25]
    >>> long_side(None, np.array([0.0, 3.0]), 0.25).tolist()
    [0.0, 1.0]
    """
    present = own if own is not None else social
    if present is None or not present.shape[0]:
        return None
    dim = present.shape[0]
    zeros = np.zeros((1, dim), np.float32)
    parts = InterestParts(
        zeros if own is None else own[None, :].astype(np.float32), zeros, np.ones(1)
    )
    mixed = with_social(parts, zeros if social is None else social[None, :], weight, np.ones(1))
    if not mixed.long_term.any():
        return None
    out: np.ndarray = mixed.long_term[0]
    return out


class SocialWeight:
    """The global social weight ``s``: its logit, and pairwise gradients of it.

    >>> weight = SocialWeight()
    >>> items = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> # The social vector points at the chosen item (row 0), the own long-term one away.
    >>> g = weight.gradients(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), items,
    ...                      np.array([0]), np.array([[1]]))
    >>> before = weight.weight
    >>> weight.step(float(g.sum()))
    >>> weight.weight > before
    True
    """

    def __init__(self, prior: float = SOCIAL_PRIOR, learning_rate: float = 0.01) -> None:
        self._learner = MixWeightLearner(prior, 0.0, learning_rate, user_l2=0.0)
        self.initial_logit = self._learner.initial_logit

    @classmethod
    def stored(cls, change: float) -> SocialWeight:
        """The weight as every worker moved it (the ``social:prior`` change in Redis)."""
        weight = cls()
        weight.set_logit(weight.initial_logit + change)
        return weight

    @property
    def weight(self) -> float:
        return self._learner.weight(0.0)

    @property
    def logit(self) -> float:
        return float(self._learner.global_logit[0])

    def set_logit(self, logit: float) -> None:
        self._learner.global_logit[0] = logit

    def gradients(
        self,
        social: np.ndarray,
        own_long: np.ndarray,
        items: np.ndarray,
        chosen: np.ndarray,
        sampled: np.ndarray,
    ) -> np.ndarray:
        """Per chosen item (row ``chosen[i]`` of ``items``, by a user whose social and own
        long-term rows are row ``i`` of those), the gradient of the logit against the
        ``sampled`` rows (one row of draws per choice). Not applied: see :meth:`step`."""
        social_unit, _ = unit_rows(np.asarray(social, np.float32))
        own_unit, _ = unit_rows(np.asarray(own_long, np.float32))
        picked, others = items[chosen], items[sampled]
        social_m = np.einsum("nd,nd->n", picked, social_unit)[:, None] - np.einsum(
            "nkd,nd->nk", others, social_unit
        )
        own_m = np.einsum("nd,nd->n", picked, own_unit)[:, None] - np.einsum(
            "nkd,nd->nk", others, own_unit
        )
        _, gradients = self._learner.observe_many(np.zeros(len(chosen)), social_m, own_m)
        return gradients

    def step(self, gradient: float) -> None:
        """One SGD step of the logit with a summed gradient (from committed users only)."""
        self._learner.step_global(gradient)
