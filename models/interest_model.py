"""One user's interest, one event at a time: the math the worker and the evaluator share.

The worker keeps :class:`UserInterest` in Redis and the evaluation harness in
memory; both call :meth:`InterestModel.apply` and :meth:`InterestModel.recommend`,
so what is measured offline is what runs online.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from models.blend import MixWeightLearner, blend, cosine
from models.gru_step import GRUStepper
from models.interest_shift import Shift, ShiftDetector, ShiftState
from models.item_table import ItemTable
from models.online_item_factors import OnlineItemFactors, sample_negative, sampled_rows
from models.short_term import ShortTermInterest, UserVector, unit
from models.topk import top_k


@dataclass(frozen=True, slots=True)
class UserInterest:
    """Everything about a user that scoring needs."""

    short_term: UserVector
    recent: tuple[str, ...] = ()
    long_term: np.ndarray | None = None  # as published at the last refresh: the stable anchor
    long_term_state: np.ndarray | None = (
        None  # the GRU's (layers × hidden) state, stepped per event
    )
    mix_offset: float = 0.0
    shift_state: ShiftState | None = None
    shift: Shift | None = None  # set only on the state right after a detected shift

    @classmethod
    def new(cls, dim: int) -> UserInterest:
        return cls(UserVector.empty(dim))


@dataclass(frozen=True, slots=True)
class InterestConfig:
    half_life_s: float = 1800.0
    learning_rate: float = 0.5
    l2: float = 0.001
    recent_items: int = 50
    learn_items: bool = True
    shift_lean: float = 2.0  # logits the mix weight moves towards short-term after a shift
    mix_negatives: int = 16  # sampled items the blend weight's pairwise step ranks against
    event_weights: Mapping[str, float] = field(default_factory=lambda: {"view": 1.0})


class InterestModel:
    """Short-term update, online item factors and the long/short blend.

    >>> model = InterestModel(ItemTable(dim=8, seed=0), InterestConfig())
    >>> user, changed = model.apply(UserInterest.new(8), "a", "view", ts=0.0, sample_key=1)
    >>> user.recent
    ('a',)
    >>> idx, _ = model.recommend([user], k=3)
    >>> idx.shape
    (1, 3)
    """

    def __init__(
        self,
        items: ItemTable,
        config: InterestConfig,
        mix: MixWeightLearner | None = None,
        stepper: GRUStepper | None = None,
    ) -> None:
        self.items = items
        self.stepper = stepper
        self.config = config
        self.short_term = ShortTermInterest(config.half_life_s)
        self.factors = OnlineItemFactors(items, config.learning_rate, config.l2)
        self.mix = mix or MixWeightLearner()
        self.shifts = ShiftDetector()
        self.unavailable: set[int] = set()  # item rows never to recommend

    def apply(
        self, user: UserInterest, item_id: str, event_type: str, ts: float, sample_key: int
    ) -> tuple[UserInterest, list[str]]:
        """The user after the event, and the item ids whose vectors changed."""
        weight = self.config.event_weights[event_type]
        context = self.short_term.decayed(user.short_term, ts)
        item = self.items.vector(item_id)
        mix_offset, shift_state, shift = user.mix_offset, user.shift_state, None
        long_term_now = self.long_term_now(user)
        if long_term_now is not None and weight > 0 and context.any():
            # Draws after the one the item factors learn against (draw 0).
            rows = sampled_rows(len(self.items), sample_key, self.config.mix_negatives, first=1)
            others = self.items.matrix[rows]
            long_unit, short_unit = unit(long_term_now), unit(context)
            mix_offset = self.mix.observe(
                mix_offset,
                float(item @ long_unit) - others @ long_unit,
                float(item @ short_unit) - others @ short_unit,
            ).user_offset
        if user.long_term is not None and weight > 0:
            # Shifts are drops against the refresh's vector: the stepped one follows
            # the user within an event or two, so it cannot show a lasting drop.
            similarity = cosine(user.long_term, item)
            shift_state, shift = self.shifts.update(shift_state or ShiftState.new(), similarity)
            if shift is not None:
                mix_offset -= self.config.shift_lean
        long_term_state = user.long_term_state
        if self.stepper is not None and weight > 0:  # before the item's own vector learns
            state = long_term_state if long_term_state is not None else self.stepper.initial()
            long_term_state = self.stepper.step(state, item)
        changed: list[str] = []
        if self.config.learn_items:
            negative = sample_negative(self.items, sample_key)
            changed = self.factors.learn(context, item_id, weight, negative)
        short_term = self.short_term.update(user.short_term, self.items.vector(item_id), weight, ts)
        recent = (item_id, *(i for i in user.recent if i != item_id))[: self.config.recent_items]
        after = replace(
            user,
            short_term=short_term,
            recent=recent,
            long_term_state=long_term_state,
            mix_offset=mix_offset,
            shift_state=shift_state,
            shift=shift,
        )
        return after, changed

    def restart_long_term(self, user: UserInterest) -> UserInterest:
        """The user's long-term state rebuilt by stepping through their recent items.

        For a user whose stored state belongs to another model version (or is
        missing): ``recent`` is newest first and holds each item once.
        Without a stepper the user is returned unchanged.
        """
        if self.stepper is None:
            return user
        rows = [r for r in map(self.items.get_index, reversed(user.recent)) if r is not None]
        if not rows:
            return replace(user, long_term_state=None)
        return replace(user, long_term_state=self.stepper.run(self.items.matrix[rows]))

    def long_term_now(self, user: UserInterest) -> np.ndarray | None:
        """The GRU's read-out of the user's stepped state; else the refresh's vector."""
        if self.stepper is not None and user.long_term_state is not None:
            return self.stepper.output(user.long_term_state)
        return user.long_term

    def scoring_vector(self, user: UserInterest) -> np.ndarray:
        """The blended direction that ranks items for this user."""
        weight = self.mix.weight(user.mix_offset)
        mixed = blend(self.long_term_now(user), user.short_term.vector, weight)
        return mixed if mixed.shape[0] else np.zeros(self.items.dim, np.float32)

    def recommend(self, users: Sequence[UserInterest], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item rows and scores per user, recent items excluded."""
        vectors = np.stack([self.scoring_vector(u) for u in users])
        exclude = [
            [row for row in map(self.items.get_index, u.recent) if row is not None]
            + list(self.unavailable)
            for u in users
        ]
        return top_k(vectors, self.items.matrix, k, exclude)
