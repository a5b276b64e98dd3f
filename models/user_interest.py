"""A user's interest as the models see it, and one event as they take it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from models.interest_shift import Shift, ShiftState
from models.short_term import UserVector


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
    # Offsets of the mix weight on the non-default surfaces (models.surfaces): index
    # i - 1 holds surface i; ``mix_offset`` is the default surface's.
    surface_offsets: tuple[float, ...] = ()
    surface: int = 0  # the surface of the user's last event: recommendations use its weight

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
    shift_lean: float = 0.0  # logits the mix weight moves towards short-term after a shift
    mix_negatives: int = 16  # sampled items the blend weight's pairwise step ranks against
    event_weights: Mapping[str, float] = field(default_factory=lambda: {"view": 1.0})


@dataclass(frozen=True, slots=True)
class EventInput:
    """One event of a user, as the fold takes it; ``sample_key`` seeds its sampled items."""

    item_id: str
    event_type: str
    ts: float
    sample_key: int
    surface: int = 0  # index into the configured surfaces (models.surfaces); 0: default
