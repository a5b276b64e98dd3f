"""Interest-shift detection on the similarity stream (models/interest_shift.py)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import drift, stats

from models.interest_shift import Shift, ShiftConfig, ShiftDetector, ShiftState

FAST = settings(max_examples=60, deadline=None)
similarities = st.lists(st.floats(-1.0, 1.0), min_size=0, max_size=120)


def noisy(rng: np.random.Generator, mean: float, std: float, n: int) -> list[float]:
    return [float(x) for x in np.clip(rng.normal(mean, std, n), -1.0, 1.0)]


def switch_stream(seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return noisy(rng, 0.8, 0.05, 100) + noisy(rng, 0.1, 0.05, 300)


def fires(stream: Iterable[float], config: ShiftConfig | None = None) -> list[tuple[int, Shift]]:
    detector, state, out = ShiftDetector(config), ShiftState.new(), []
    for i, similarity in enumerate(stream):
        state, shift = detector.update(state, similarity)
        if shift is not None:
            out.append((i, shift))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_a_switch_fires_once_and_soon(seed: int) -> None:
    shifts = fires(switch_stream(seed))
    assert len(shifts) == 1
    index, shift = shifts[0]
    assert 100 <= index <= 110
    assert shift.strength == pytest.approx(0.7, abs=0.1)
    assert shift.reference == pytest.approx(0.8, abs=0.05)
    assert shift.events >= 1


def test_a_stationary_noisy_stream_fires_rarely() -> None:
    stream = noisy(np.random.default_rng(42), 0.5, 0.2, 2000)
    assert len(fires(stream)) <= 2


def test_a_very_noisy_user_is_judged_by_their_own_noise() -> None:
    stream = [float(x) for x in np.random.default_rng(7).uniform(-1.0, 1.0, 2000)]
    assert len(fires(stream)) <= 2


def test_rising_similarity_never_fires() -> None:
    rng = np.random.default_rng(3)
    assert fires(noisy(rng, 0.1, 0.05, 100) + noisy(rng, 0.9, 0.05, 300)) == []


def test_nothing_fires_during_warm_up() -> None:
    config = ShiftConfig(warm_up=30)
    stream = [0.9] * 5 + [-0.9] * 25 + [0.9] * 30 + [-0.9] * 30
    shifts = fires(stream, config)
    assert shifts
    assert min(index for index, _ in shifts) >= 30


@FAST
@given(similarities)
def test_warm_up_and_cooldown_hold_on_any_stream(stream: list[float]) -> None:
    # A cooldown longer than the warm-up, which a shift restarts, so that both are exercised.
    config = ShiftConfig(warm_up=3, cooldown=10, threshold=1.0, min_strength=0.0)
    indices = [index for index, _ in fires(stream, config)]
    assert all(index >= config.warm_up for index in indices)
    assert all(b - a > config.cooldown for a, b in itertools.pairwise(indices))


@FAST
@given(similarities)
def test_strength_is_never_negative(stream: list[float]) -> None:
    config = ShiftConfig(warm_up=5, threshold=1.0, min_strength=0.0, cooldown=0)
    assert all(shift.strength >= 0.0 for _, shift in fires(stream, config))


def test_cooldown_delays_a_second_shift() -> None:
    stream = [0.8] * 60 + [0.3] * 30 + [-0.4] * 100
    quick = [index for index, _ in fires(stream, ShiftConfig(cooldown=0))]
    slow = [index for index, _ in fires(stream, ShiftConfig(cooldown=60))]
    assert quick[0] == slow[0] == 61
    assert quick[1] == 91  # the second drop, once the new reference has warmed up
    assert slow[1] == slow[0] + 61  # held back until the cooldown ran out, then at once


def test_state_round_trips_through_json_without_changing_decisions() -> None:
    detector = ShiftDetector()
    stream = switch_stream(1) + noisy(np.random.default_rng(5), -0.3, 0.1, 200)
    kept, stored = ShiftState.new(), ShiftState.new()
    for similarity in stream:
        kept, kept_shift = detector.update(kept, similarity)
        raw = orjson.dumps(stored.to_dict())
        stored, stored_shift = detector.update(ShiftState.from_dict(orjson.loads(raw)), similarity)
        assert stored == kept
        assert stored_shift == kept_shift


def test_state_reads_back_from_redis_style_strings() -> None:
    state = ShiftState(n=7, mean=0.25, var=0.01, cusum=1.5, streak=2, streak_shortfall=0.4)
    as_bytes = {key: repr(value).encode() for key, value in state.to_dict().items()}
    assert ShiftState.from_dict(as_bytes) == state
    assert all(isinstance(v, float) for v in state.to_dict().values())


@pytest.mark.parametrize(
    "change",
    [{"mean": None}, {"var": -1.0}, {"cusum": "nan"}, {"n": True}, {"streak": "x"}],
)
def test_bad_state_is_rejected(change: dict[str, object]) -> None:
    raw: dict[str, object] = {**ShiftState.new().to_dict(), **change}
    if change.get("mean", 0.0) is None:
        del raw["mean"]
    with pytest.raises(ValueError):
        ShiftState.from_dict(raw)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_similarity_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        ShiftDetector().update(ShiftState.new(), bad)


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError):
        ShiftConfig(warm_up=1)
    with pytest.raises(ValueError):
        ShiftConfig(threshold=0.0)


def test_reference_is_rivers_mean_and_variance_while_young() -> None:
    detector = ShiftDetector(ShiftConfig(warm_up=50, horizon=50))
    mean, var, state = stats.Mean(), stats.Var(ddof=0), ShiftState.new()
    for x in noisy(np.random.default_rng(9), 0.4, 0.3, 50):
        state, _ = detector.update(state, x)
        mean.update(x)
        var.update(x)
        assert state.mean == pytest.approx(mean.get(), abs=1e-12)
        assert state.var == pytest.approx(var.get(), abs=1e-12)


def test_reference_then_forgets_like_rivers_ewmean() -> None:
    horizon = 40
    detector = ShiftDetector(ShiftConfig(warm_up=horizon, horizon=horizon, threshold=1e9))
    state = ShiftState(n=horizon, mean=0.6, var=0.01)
    ewm = stats.EWMean(fading_factor=1.0 / horizon)
    ewm.update(0.6)  # river's first update takes the value as the mean
    for x in noisy(np.random.default_rng(11), 0.2, 0.2, 200):
        state, _ = detector.update(state, x)
        ewm.update(x)
        assert state.mean == pytest.approx(ewm.get(), abs=1e-9)


def test_fires_when_rivers_page_hinkley_does_on_a_clean_switch() -> None:
    stream = switch_stream(2)
    page_hinkley = drift.PageHinkley(min_instances=20, delta=0.005, threshold=1.0, mode="down")
    river_index = None
    for i, x in enumerate(stream):
        page_hinkley.update(x)  # type: ignore[no-untyped-call]
        if page_hinkley.drift_detected:
            river_index = i
            break
    (ours, _), *_ = fires(stream)
    assert river_index is not None
    assert abs(ours - river_index) <= 2
