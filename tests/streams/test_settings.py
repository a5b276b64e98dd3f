"""The settings object (streams/settings.py)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.settings import (
    DEFAULT_EVENT_WEIGHTS,
    ENV_PREFIX,
    Settings,
    SettingsError,
    env_name,
    format_weights,
    parse_weights,
    settings_table,
)

FAST = settings(max_examples=100, deadline=None)
FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def test_defaults_need_no_environment() -> None:
    s = Settings.from_env({})
    assert s == Settings()
    assert dict(s.event_weights) == dict(DEFAULT_EVENT_WEIGHTS)


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/bin", "VECTOR_SIZE": "3"}) == Settings()


def test_env_name_is_prefixed_upper_case() -> None:
    assert env_name("vector_size") == "INTERESTS_VECTOR_SIZE"
    assert ENV_PREFIX == "INTERESTS_"


def test_ints_floats_and_strings_are_parsed() -> None:
    s = Settings.from_env(
        {
            "INTERESTS_VECTOR_SIZE": "64",
            "INTERESTS_TOP_K": " 7 ",
            "INTERESTS_SHORT_TERM_HALF_LIFE_S": "12.5",
            "INTERESTS_LEARNING_RATE": "1e-3",
            "INTERESTS_ITEM_REFRESH_S": "3",
            "INTERESTS_REDIS_PREFIX": "x:",
            "INTERESTS_KAFKA_BOOTSTRAP": "broker:19092",
        }
    )
    assert (s.vector_size, s.top_k) == (64, 7)
    assert (s.short_term_half_life_s, s.learning_rate, s.item_refresh_s) == (12.5, 0.001, 3.0)
    assert isinstance(s.item_refresh_s, float)
    assert (s.redis_prefix, s.kafka_bootstrap) == ("x:", "broker:19092")


def test_weights_are_parsed() -> None:
    s = Settings.from_env({"INTERESTS_EVENT_WEIGHTS": "view:1, buy:4.5,skip:-2"})
    assert dict(s.event_weights) == {"view": 1.0, "buy": 4.5, "skip": -2.0}


def test_weights_are_read_only() -> None:
    weights = parse_weights("view:1")
    with pytest.raises(TypeError):
        weights["view"] = 2.0  # type: ignore[index]


def test_overrides_win_over_environment() -> None:
    s = Settings.from_env({"INTERESTS_TOP_K": "7"}, top_k=9)
    assert s.top_k == 9


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VECTOR_SIZE", "abc"),
        ("VECTOR_SIZE", "1.5"),
        ("VECTOR_SIZE", ""),
        ("TOP_K", "1e3"),
        ("SEED", "seven"),
        ("SHORT_TERM_HALF_LIFE_S", "fast"),
        ("LEARNING_RATE", ""),
        ("EVENT_WEIGHTS", "view"),
        ("EVENT_WEIGHTS", "view:x"),
        ("EVENT_WEIGHTS", ":1"),
        ("EVENT_WEIGHTS", " , "),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"INTERESTS_{name}"):
        Settings.from_env({f"INTERESTS_{name}": value})


@pytest.mark.parametrize(
    "name",
    [
        "TOPIC_PARTITIONS",
        "VECTOR_SIZE",
        "SHORT_TERM_HALF_LIFE_S",
        "TOP_K",
        "RECENT_ITEMS",
        "USER_TTL_S",
        "MAX_EVENT_BYTES",
        "BATCH_SIZE",
    ],
)
@pytest.mark.parametrize("value", ["0", "-1"])
def test_non_positive_sizes_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"INTERESTS_{name}"):
        Settings.from_env({f"INTERESTS_{name}": value})


@pytest.mark.parametrize(
    "name",
    [
        "SHORT_TERM_HALF_LIFE_S",
        "LEARNING_RATE",
        "MAX_FUTURE_SKEW_S",
        "BATCH_WITHIN_S",
        "ITEM_REFRESH_S",
        "REDIS_RETRY_MAX_S",
        "L2",
    ],
)
def test_nan_floats_are_refused(name: str) -> None:
    with pytest.raises(SettingsError, match=f"INTERESTS_{name}"):
        Settings.from_env({f"INTERESTS_{name}": "nan"})


@pytest.mark.parametrize(
    "url", ["localhost:6379", "http://localhost:6379", "", "redis:/x", "REDIS://h:1"]
)
def test_invalid_redis_url_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="INTERESTS_REDIS_URL"):
        Settings.from_env({"INTERESTS_REDIS_URL": url})


@pytest.mark.parametrize(
    "url", ["redis://h:6379/0", "rediss://user:pw@h:6380/1", "unix:///tmp/redis.sock"]
)
def test_valid_redis_urls_are_accepted(url: str) -> None:
    assert Settings.from_env({"INTERESTS_REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize("bootstrap", ["localhost", "localhost:", ":9092", "host:port", ""])
def test_invalid_bootstrap_is_refused(bootstrap: str) -> None:
    with pytest.raises(SettingsError, match="INTERESTS_KAFKA_BOOTSTRAP"):
        Settings.from_env({"INTERESTS_KAFKA_BOOTSTRAP": bootstrap})


@pytest.mark.parametrize("bootstrap", ["localhost:9092", "10.0.0.1:1", "[::1]:9092"])
def test_valid_bootstrap_is_accepted(bootstrap: str) -> None:
    assert Settings.from_env({"INTERESTS_KAFKA_BOOTSTRAP": bootstrap}).kafka_bootstrap == bootstrap


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().top_k = 3  # type: ignore[misc]


def test_replace_validates() -> None:
    assert Settings().replace(top_k=3).top_k == 3
    with pytest.raises(SettingsError):
        Settings().replace(top_k=0)


def test_default_weights_are_not_shared_mutable_objects() -> None:
    a, b = Settings(), Settings()
    with pytest.raises(TypeError):
        a.event_weights["view"] = 9.0  # type: ignore[index]
    assert b.event_weights["view"] == 1.0


def test_as_env_names_every_field() -> None:
    assert set(Settings().as_env()) == {env_name(name) for name in FIELDS}


def test_default_settings_round_trip_through_the_environment() -> None:
    s = Settings()
    assert Settings.from_env(s.as_env()) == s


def test_changed_settings_round_trip_through_the_environment() -> None:
    s = Settings(
        vector_size=3,
        short_term_half_life_s=0.1,
        learning_rate=1e-7,
        seed=-4,
        redis_prefix="a b:",
        event_weights={"x": 0.5, "y": -3.0},
        log_level="debug",
    )
    again = Settings.from_env(s.as_env())
    assert again == s
    assert dict(again.event_weights) == {"x": 0.5, "y": -3.0}


weight_names = st.text(
    st.characters(blacklist_characters=",:", blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=8,
)
finite = st.floats(allow_nan=False, allow_infinity=False)


@FAST
@given(
    vector_size=st.integers(1, 10_000),
    half_life=st.floats(min_value=1e-6, max_value=1e9),
    learning_rate=finite,
    seed=st.integers(-(2**62), 2**62),
    prefix=st.text(max_size=10),
)
def test_scalar_settings_round_trip_through_the_environment(
    vector_size: int, half_life: float, learning_rate: float, seed: int, prefix: str
) -> None:
    s = Settings(
        vector_size=vector_size,
        short_term_half_life_s=half_life,
        learning_rate=learning_rate,
        seed=seed,
        redis_prefix=prefix,
    )
    assert Settings.from_env(s.as_env()) == s


@FAST
@given(st.dictionaries(weight_names, finite, min_size=1, max_size=6))
def test_event_weights_round_trip_through_the_environment(weights: dict[str, float]) -> None:
    s = Settings(event_weights=weights)
    assert dict(Settings.from_env(s.as_env()).event_weights) == weights


def test_format_weights_is_parsed_back() -> None:
    text = format_weights(DEFAULT_EVENT_WEIGHTS)
    assert text == "view:1,click:2,add_to_cart:3,like:3,purchase:5,skip:-1"
    assert dict(parse_weights(text)) == dict(DEFAULT_EVENT_WEIGHTS)


def test_settings_table_has_one_row_per_field() -> None:
    lines = settings_table().splitlines()
    assert lines[:2] == ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows = lines[2:]
    assert len(rows) == len(dataclasses.fields(Settings))
    for row, f in zip(rows, dataclasses.fields(Settings), strict=True):
        assert row.startswith(f"| `{env_name(f.name)}` |")
        assert f.metadata["doc"] in row


def test_settings_table_shows_the_defaults() -> None:
    table = settings_table()
    assert "| `INTERESTS_VECTOR_SIZE` | `64` |" in table
    assert f"`{format_weights(DEFAULT_EVENT_WEIGHTS)}`" in table


def test_every_field_is_documented() -> None:
    for f in dataclasses.fields(Settings):
        assert f.metadata.get("doc"), f.name


def _kinds() -> dict[str, Any]:
    return {name: type(getattr(Settings(), name)) for name in FIELDS}


def test_numeric_defaults_are_finite() -> None:
    for name, kind in _kinds().items():
        if kind in (int, float):
            assert math.isfinite(getattr(Settings(), name)), name
