"""Detecting when a user's recent choices move away from their long-term interest.

The input is one number per event: the cosine between the user's long-term
vector and the item they just chose. While interest is stable it hovers around
a user-specific level; after a shift it drops and stays down.

The test is a one-sided Page-Hinkley (CUSUM) test, the one inside
``river.drift.PageHinkley(mode="down")``, rebuilt on a few plain floats so the
state fits in a Redis hash and survives any river upgrade: river's detector
keeps its state in private attributes and its ``EWMean`` in an opaque Rust
object, neither of which can be saved and restored through a public API.

Two changes make it suit per-user streams. The reference is an exponentially
weighted mean (a plain mean during warm-up), so a long history does not freeze
it. Shortfalls are divided by the user's own noise level (floored), so one
threshold serves steady and erratic users alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from itertools import chain
from operator import attrgetter

import numpy as np

_JUMP = 3.0
"""Noise units by which an event must exceed its streak's mean drop to start a new streak."""


@dataclass(frozen=True, slots=True)
class ShiftConfig:
    """Knobs of the test.

    With the defaults, a stationary stream of 0.5 ± 0.2 fires about once in
    20 000 events (simulated), and a clean drop of 0.7 fires within 2 events.
    """

    warm_up: int = 20
    """Events the reference learns from before any test (again after every shift)."""
    horizon: int = 200
    """Events the long-run reference effectively remembers."""
    drift: float = 0.5
    """Per-event allowance, in noise units: smaller sustained drops never add up."""
    threshold: float = 8.0
    """Accumulated shortfall, in noise units, that counts as a shift."""
    min_scale: float = 0.1
    """Floor of the noise unit, so a very steady user does not fire on a small dip."""
    min_strength: float = 0.1
    """Smallest drop of the recent mean below the reference worth reporting."""
    cooldown: int = 50
    """Events right after a shift that cannot fire another one."""

    def __post_init__(self) -> None:
        if self.warm_up < 2 or self.horizon < self.warm_up or self.cooldown < 0:
            raise ValueError("need warm_up >= 2, horizon >= warm_up and cooldown >= 0")
        if not (self.drift >= 0 and self.threshold > 0 and self.min_scale > 0):
            raise ValueError("need drift >= 0, threshold > 0 and min_scale > 0")


def _number(value: object) -> float | None:
    """A finite float from a number or a numeric string (as Redis returns), else None."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class ShiftState:
    """One user's detector state: seven numbers, JSON-safe."""

    n: int = 0
    """Events the reference has learned from since it (re)started."""
    mean: float = 0.0
    """Long-run mean similarity."""
    var: float = 0.0
    """Long-run variance of the similarity."""
    cusum: float = 0.0
    """Page-Hinkley statistic: accumulated standardised shortfall, never negative."""
    streak: int = 0
    """Latest run of events that each added to ``cusum`` (fell clearly below the reference)."""
    streak_shortfall: float = 0.0
    """Sum of (reference − similarity) over that streak: the size of the drop."""
    cooldown_left: int = 0
    """Events still to pass before another shift may fire."""

    def __post_init__(self) -> None:
        # Compared one by one: min() of them cost the fold a call per user.
        if (
            self.n < 0
            or self.streak < 0
            or self.cooldown_left < 0
            or self.var < 0
            or self.cusum < 0
        ):
            raise ValueError(f"counts, variance and cusum must be >= 0: {self!r}")

    @classmethod
    def new(cls) -> ShiftState:
        return cls()

    def to_dict(self) -> dict[str, float]:
        # Field by field: dataclasses.asdict deep-copies and cost the worker
        # more per user than the rest of the user's write.
        return {key: float(getattr(self, key)) for key in _SHIFT_FIELDS}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> ShiftState:
        """Rebuild from :meth:`to_dict` output (numbers or numeric strings).

        >>> state = ShiftState(n=3, mean=0.5, var=0.01)
        >>> ShiftState.from_dict(state.to_dict()) == state
        True
        """

        def number(key: str) -> float:
            value = _number(raw.get(key))
            if value is None:
                raise ValueError(f"not a shift state, bad {key!r}: {raw!r}")
            return value

        return cls(
            n=int(number("n")),
            mean=number("mean"),
            var=number("var"),
            cusum=number("cusum"),
            streak=int(number("streak")),
            streak_shortfall=number("streak_shortfall"),
            cooldown_left=int(number("cooldown_left")),
        )


_SHIFT_FIELDS = tuple(f.name for f in fields(ShiftState))
_FIELDS_OF = attrgetter(*_SHIFT_FIELDS)


@dataclass(frozen=True, slots=True)
class Shift:
    """A detected move away from the long-term interest."""

    strength: float
    """How far the recent mean fell below the long-run mean (≥ 0).

    The mean is over ``events``, the latest streak of clearly-low events, so on
    noisy users it overstates a small drop somewhat.
    """
    reference: float
    """The long-run mean similarity before the shift."""
    events: int
    """How many recent events the drop spans."""


class ShiftDetector:
    """Feeds one similarity at a time through the test; holds config, not state.

    >>> detector = ShiftDetector(ShiftConfig(warm_up=5))
    >>> state, fired = ShiftState.new(), []
    >>> for i, similarity in enumerate([0.8, 0.9, 0.8, 0.7, 0.8] * 4 + [0.1] * 10):
    ...     state, shift = detector.update(state, similarity)
    ...     if shift:
    ...         fired.append((i, round(shift.strength, 2)))
    >>> fired
    [(21, 0.68)]
    """

    def __init__(self, config: ShiftConfig | None = None) -> None:
        self.config = config or ShiftConfig()

    def update(self, state: ShiftState, similarity: float) -> tuple[ShiftState, Shift | None]:
        """Test ``similarity`` against the reference, then let the reference learn it."""
        if not math.isfinite(similarity):
            raise ValueError(f"similarity must be finite, got {similarity}")
        x = min(1.0, max(-1.0, float(similarity)))
        if state.n >= self.config.warm_up:
            state = self._test(state, x)
            shift = self._shift(state)
            if shift is not None:
                return ShiftState(cooldown_left=self.config.cooldown), shift
        return self._learn(state, x), None

    def update_many(
        self, states: ShiftArrays, users: np.ndarray, similarities: np.ndarray
    ) -> ShiftsFired:
        """:meth:`update` of each of ``users`` (distinct indices into ``states``, updated in
        place) with its similarity: the same float operations, as columns."""
        x = np.asarray(similarities, np.float64)
        if not np.isfinite(x).all():
            raise ValueError(f"similarity must be finite, got {x[~np.isfinite(x)][0]}")
        config = self.config
        x = np.minimum(1.0, np.maximum(-1.0, x))
        n, mean, var = states.n[users], states.mean[users], states.var[users]
        cusum, streak = states.cusum[users], states.streak[users]
        total, cooldown = states.streak_shortfall[users], states.cooldown_left[users]
        # _test, for the users past their warm-up
        tested = n >= config.warm_up
        shortfall = mean - x
        scale = np.maximum(np.sqrt(var), config.min_scale)
        step = shortfall / scale - config.drift
        new_cusum = np.maximum(0.0, cusum + step)
        below = step > 0.0
        jump = (streak > 0) & (shortfall - total / np.maximum(streak, 1) > _JUMP * scale)
        kept = below & ~jump
        new_streak = np.where(below, np.where(kept, streak, 0) + 1, 0)
        new_total = np.where(below, np.where(kept, total, 0.0) + shortfall, 0.0)
        cusum = np.where(tested, new_cusum, cusum)
        streak = np.where(tested, new_streak, streak)
        total = np.where(tested, new_total, total)
        # _shift
        strength = np.maximum(0.0, total / np.maximum(streak, 1))
        fired = (
            tested
            & (cusum > config.threshold)
            & (cooldown <= 0)
            & (streak != 0)
            & (strength >= config.min_strength)
        )
        # _learn, for the others
        learned_n = n + 1
        weight = 1.0 / np.minimum(learned_n, config.horizon)
        delta = x - mean
        learned_mean = mean + weight * delta
        learned_var = (1.0 - weight) * (var + weight * delta * delta)
        learned_cooldown = np.maximum(0, cooldown - 1)
        # a fired user starts over: ShiftState(cooldown_left=cooldown)
        states.known[users] = True
        states.changed[users] = True
        states.n[users] = np.where(fired, 0, learned_n)
        states.mean[users] = np.where(fired, 0.0, learned_mean)
        states.var[users] = np.where(fired, 0.0, learned_var)
        states.cusum[users] = np.where(fired, 0.0, cusum)
        states.streak[users] = np.where(fired, 0, streak)
        states.streak_shortfall[users] = np.where(fired, 0.0, total)
        states.cooldown_left[users] = np.where(fired, config.cooldown, learned_cooldown)
        return ShiftsFired(users[fired], strength[fired], mean[fired], streak[fired])

    def _test(self, state: ShiftState, x: float) -> ShiftState:
        shortfall = state.mean - x
        scale = max(math.sqrt(state.var), self.config.min_scale)
        step = shortfall / scale - self.config.drift
        cusum = max(0.0, state.cusum + step)
        if step <= 0.0:
            # The streak measures the drop, so it holds only events that fell clearly below.
            return replace(state, cusum=cusum, streak=0, streak_shortfall=0.0)
        streak, total = state.streak, state.streak_shortfall
        if streak and shortfall - total / streak > _JUMP * scale:
            streak, total = 0, 0.0  # a sudden deeper level: earlier small dips are not the drop
        return replace(state, cusum=cusum, streak=streak + 1, streak_shortfall=total + shortfall)

    def _shift(self, state: ShiftState) -> Shift | None:
        if state.cusum <= self.config.threshold or state.cooldown_left > 0 or state.streak == 0:
            return None
        strength = max(0.0, state.streak_shortfall / state.streak)
        if strength < self.config.min_strength:
            return None
        return Shift(strength=strength, reference=state.mean, events=state.streak)

    def _learn(self, state: ShiftState, x: float) -> ShiftState:
        """Move the reference towards ``x`` and count the event off the cooldown."""
        # Weight 1/n while young (a plain mean), then 1/horizon (exponential forgetting).
        n = state.n + 1
        weight = 1.0 / min(n, self.config.horizon)
        delta = x - state.mean
        mean = state.mean + weight * delta
        var = (1.0 - weight) * (state.var + weight * delta * delta)
        cooldown_left = max(0, state.cooldown_left - 1)
        return replace(state, n=n, mean=mean, var=var, cooldown_left=cooldown_left)


@dataclass(slots=True)
class ShiftArrays:
    """Many users' :class:`ShiftState` as columns, for :meth:`ShiftDetector.update_many`.

    ``known[i]`` is False for a user without a state (None) who has not been
    updated since: :meth:`state` gives None back for them. ``changed[i]``: updated.
    """

    known: np.ndarray  # bool
    n: np.ndarray  # int64
    mean: np.ndarray  # float64
    var: np.ndarray
    cusum: np.ndarray
    streak: np.ndarray  # int64
    streak_shortfall: np.ndarray
    cooldown_left: np.ndarray  # int64

    changed: np.ndarray  # bool: updated since :meth:`of`

    @classmethod
    def of(cls, states: Sequence[ShiftState | None]) -> ShiftArrays:
        """The columns of ``states`` (None: a new state, not yet known)."""
        count = len(states)
        known = np.fromiter((s is not None for s in states), bool, count)
        given = [s for s in states if s is not None]
        flat = chain.from_iterable(map(_FIELDS_OF, given))
        cols = np.fromiter(flat, np.float64, 7 * len(given)).reshape(-1, 7)

        def column(i: int, dtype: type) -> np.ndarray:
            out: np.ndarray = np.zeros(count, dtype)
            out[known] = cols[:, i]
            return out

        return cls(
            known,
            column(0, np.int64),
            column(1, np.float64),
            column(2, np.float64),
            column(3, np.float64),
            column(4, np.int64),
            column(5, np.float64),
            column(6, np.int64),
            np.zeros(count, bool),
        )

    def state(self, i: int) -> ShiftState | None:
        """User ``i``'s state as :meth:`ShiftDetector.update` would have left it."""
        return self.states(np.array([i]))[0]

    def states(self, users: np.ndarray) -> list[ShiftState | None]:
        """:meth:`state` of each of ``users`` (indices), read column by column."""
        columns = zip(
            self.n[users].tolist(),
            self.mean[users].tolist(),
            self.var[users].tolist(),
            self.cusum[users].tolist(),
            self.streak[users].tolist(),
            self.streak_shortfall[users].tolist(),
            self.cooldown_left[users].tolist(),
            strict=True,
        )
        return [
            ShiftState(*values) if known else None
            for values, known in zip(columns, self.known[users].tolist(), strict=True)
        ]


@dataclass(frozen=True, slots=True)
class ShiftsFired:
    """The users (indices) of one :meth:`ShiftDetector.update_many` call whose shift fired."""

    users: np.ndarray
    strength: np.ndarray
    reference: np.ndarray
    events: np.ndarray

    def shift(self, i: int) -> Shift:
        return Shift(float(self.strength[i]), float(self.reference[i]), int(self.events[i]))
