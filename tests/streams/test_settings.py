"""The settings object (streams/settings.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import streams.settings as settings_module
from streams.settings import (
    DEFAULT_EVENT_WEIGHTS,
    ENV_PREFIX,
    Settings,
    SettingsError,
    env_name,
    format_weights,
    parse_weights,
    settings_table,
    warn_unknown,
)

FAST = settings(max_examples=100, deadline=None)
FIELDS = dict(Settings.model_fields)

# A value for every field that differs from its default (and is valid).
CHANGED: dict[str, Any] = {
    "kafka_bootstrap": "broker:19092",
    "surfaces": "feed,search",
    "topic_epoch_poll_s": 0.0,
    "item_table_max": 1000,
    "item_ttl_s": 3600,
    "ann_min_items": 5000,
    "ann_m": 32,
    "ann_ef_construction": 400,
    "ann_ef": 64,
    "ann_build_threads": 2,
    "hold_outputs_s": 30.0,
    "redis_url": "rediss://u:p@h:6380/2",
    "app_id": "other-app",
    "topic_interactions": "t-in",
    "topic_dlq": "t-dlq",
    "topic_items": "t-items",
    "topic_recommendations": "t-recs",
    "topic_model_updates": "t-models",
    "topic_interest_shifts": "t-shifts",
    "topic_partitions": 3,
    "redis_prefix": "x y:",
    "vector_size": 16,
    "short_term_half_life_s": 0.25,
    "learning_rate": 1e-7,
    "l2": 0.0,
    "top_k": 7,
    "explain_recent": 3,
    "blend": "fusion",
    "promotion": "shadow",
    "shadow_events": 50,
    "shadow_max_s": 60.0,
    "shadow_users_per_batch": 8,
    "recent_items": 9,
    "history_length": 11,
    "user_ttl_s": 60,
    "erasure_fence_s": 120,
    "event_weights": {"a": 0.5, "b": -3.0},
    "max_event_bytes": 1024,
    "rerank_port": 9311,
    "text_model": "hashed",
    "max_future_skew_s": 1.5,
    "batch_size": 13,
    "batch_within_s": 0.5,
    "fetch_max_wait_ms": 5,
    "model_poll_s": 0.1,
    "item_refresh_s": 2.0,
    "broker_rebalance_timeout_s": 3.0,
    "broker_session_timeout_s": 6.0,
    "redis_retry_max_s": 0.5,
    "redis_timeout_s": 0.75,
    "dlq_raw_max_bytes": 4096,
    "model_dir": "/tmp/models",
    "model_keep_versions": 5,
    "redis_tls_ca": "/etc/tls/ca.crt",
    "redis_tls_cert": "/etc/tls/client.crt",
    "redis_tls_key": "/etc/tls/client.key",
    "trainer_interval_s": 1.0,
    "trainer_min_new_events": 10,
    "trainer_poll_s": 0.5,
    "trainer_epochs": 2,
    "trainer_patience": 1,
    "trainer_batch_size": 32,
    "trainer_learning_rate": 0.03,
    "trainer_schedule": "constant",
    "trainer_label_smoothing": 0.0,
    "trainer_gate_slack": 0.05,
    "trainer_min_steps": 120,
    "trainer_loss": "sampled",
    "trainer_max_len": 20,
    "trainer_dropout": 0.1,
    "torch_threads": 3,
    "trending_half_life_s": 60.0,
    "trending_publish_s": 0.5,
    "shared_flush_s": 2.5,
    "shift_lean": 0.5,
    "stats_log_interval_s": 1.0,
    "seed": -4,
    "log_level": "debug",
    "metrics_port": 9464,
    "metrics_host": "0.0.0.0",
    "live_quality_k": 5,
    "live_quality_window": 50,
    "trail_length": 30,
    "trail_every_events": 5,
    "trail_period_s": 3600.0,
    "followees_max": 50,
    "social_refresh_s": 60.0,
    "dashboard_host": "0.0.0.0",
    "dashboard_port": 9050,
    "dashboard_token": "s3cret",
    "dashboard_metrics_urls": "http://w1:9100/metrics,http://w2:9100/metrics",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_sasl_username": "svc",
    "kafka_sasl_password": "hunter2",
    "kafka_ssl_ca": "/etc/tls/kafka-ca.crt",
    "kafka_ssl_cert": "/etc/tls/kafka.crt",
    "kafka_ssl_key": "/etc/tls/kafka.key",
    "user_id_key": "0123456789abcdef0123",
    "user_id_key_file": "/etc/interests/user-id.key",
}


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: nothing warned yet."""
    monkeypatch.setattr(settings_module, "_warned", set())


def test_changed_values_cover_every_field_and_differ_from_the_defaults() -> None:
    defaults = Settings()
    assert set(CHANGED) == set(FIELDS)
    same = [name for name, value in CHANGED.items() if getattr(defaults, name) == value]
    assert same == []


def test_defaults_need_no_environment() -> None:
    s = Settings.from_env({})
    assert (s.vector_size, s.top_k, s.kafka_bootstrap) == (64, 20, "127.0.0.1:9092")
    assert dict(s.event_weights) == dict(DEFAULT_EVENT_WEIGHTS)


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERESTS_TOP_K", "7")
    assert Settings.from_env().top_k == 7


def test_a_given_mapping_is_the_whole_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERESTS_TOP_K", "7")
    assert Settings.from_env({}).top_k == 20
    assert Settings().top_k == 20  # construction alone never reads the environment


def test_unprefixed_variables_are_ignored() -> None:
    s = Settings.from_env({"PATH": "/bin", "VECTOR_SIZE": "3", "INTERESTS_TOP_K": "7"})
    assert (s.vector_size, s.top_k) == (64, 7)


def test_env_name_is_prefixed_upper_case() -> None:
    assert env_name("vector_size") == "INTERESTS_VECTOR_SIZE"
    assert ENV_PREFIX == "INTERESTS_"


def test_ints_floats_and_strings_are_parsed() -> None:
    s = Settings.from_env(
        {
            "INTERESTS_VECTOR_SIZE": "48",
            "INTERESTS_TOP_K": " 7 ",
            "INTERESTS_SHORT_TERM_HALF_LIFE_S": "12.5",
            "INTERESTS_LEARNING_RATE": "1e-3",
            "INTERESTS_ITEM_REFRESH_S": "3",
            "INTERESTS_REDIS_PREFIX": "x:",
            "INTERESTS_KAFKA_BOOTSTRAP": "broker:19092",
        }
    )
    assert (s.vector_size, s.top_k) == (48, 7)
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


def test_event_weights_are_read_only_copies_of_what_was_given() -> None:
    given_weights = {"view": 1.0, "buy": 2.0}
    s = Settings(event_weights=given_weights)
    given_weights["view"] = 9.0
    assert s.event_weights["view"] == 1.0
    with pytest.raises(TypeError):
        s.event_weights["view"] = 9.0  # type: ignore[index]
    with pytest.raises(TypeError):
        Settings().event_weights["view"] = 9.0  # type: ignore[index]
    assert DEFAULT_EVENT_WEIGHTS["view"] == 1.0


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
        ("TRAINER_LOSS", "hinge"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({f"INTERESTS_{name}": value})
    message = str(caught.value)
    assert message.startswith(f"INTERESTS_{name}:") and "\n" not in message


def test_every_bad_variable_is_named_on_the_one_line() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"INTERESTS_TOP_K": "0", "INTERESTS_L2": "nan"})
    message = str(caught.value)
    assert "INTERESTS_TOP_K" in message and "INTERESTS_L2" in message and "\n" not in message


def test_bad_arguments_raise_settings_error_too() -> None:
    with pytest.raises(SettingsError, match="INTERESTS_TOP_K"):
        Settings(top_k=0)
    with pytest.raises(SettingsError, match="INTERESTS_NO_SUCH_FIELD"):
        Settings(no_such_field=1)


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
    assert getattr(Settings.from_env({f"INTERESTS_{name}": "1"}), name.lower()) == 1
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
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_floats_are_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"INTERESTS_{name}"):
        Settings.from_env({f"INTERESTS_{name}": value})


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


def test_a_settings_error_is_caught_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="INTERESTS_TOP_K"):
        Settings.from_env({"INTERESTS_TOP_K": "x"})


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.top_k = 3
    assert s.top_k == 20


def test_replace_changes_only_what_it_is_given() -> None:
    s = Settings(top_k=5, event_weights={"a": 1.0})
    again = s.replace(seed=1)
    assert (again.seed, again.top_k, dict(again.event_weights)) == (1, 5, {"a": 1.0})
    assert s.seed == 7


def test_replace_validates() -> None:
    assert Settings().replace(top_k=3).top_k == 3
    with pytest.raises(SettingsError, match="INTERESTS_TOP_K"):
        Settings().replace(top_k=0)


def test_replace_does_not_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERESTS_TOP_K", "7")
    assert Settings(top_k=5).replace(seed=1).top_k == 5


def test_as_env_names_every_field() -> None:
    assert set(Settings().as_env()) == {env_name(name) for name in FIELDS}


def test_every_field_round_trips_through_the_environment() -> None:
    s = Settings(**CHANGED)
    again = Settings.from_env(s.as_env())
    assert again == s
    assert {name: getattr(again, name) for name in FIELDS} == CHANGED


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
    assert text == "view:1,click:2,add_to_cart:3,like:3,purchase:5,skip:-1,search:2"
    assert dict(parse_weights(text)) == dict(DEFAULT_EVENT_WEIGHTS)


def test_settings_table_has_one_documented_row_per_field() -> None:
    lines = settings_table().splitlines()
    assert lines[:2] == ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows = lines[2:]
    assert len(rows) == len(FIELDS)
    for row, (name, info) in zip(rows, FIELDS.items(), strict=True):
        assert info.description, name
        assert row.startswith(f"| `{env_name(name)}` |") and row.endswith(f" {info.description} |")


def test_the_table_defaults_read_back_as_the_defaults() -> None:
    shown = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", settings_table(), re.MULTILINE))
    assert len(shown) == len(FIELDS)
    assert Settings.from_env(shown) == Settings()


def test_a_misspelt_variable_is_named_with_the_closest_setting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    s = Settings.from_env({"INTERESTS_TOPK": "5", "INTERESTS_VECTORSIZE": "3"})
    assert s.top_k == 20  # still ignored: a warning, not a refusal
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert "INTERESTS_TOPK" in lines[0] and lines[0].endswith("did you mean INTERESTS_TOP_K?")
    assert "INTERESTS_VECTORSIZE" in lines[1] and "INTERESTS_VECTOR_SIZE?" in lines[1]


def test_a_misspelt_variable_is_warned_once_per_process(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for _ in range(3):
        Settings.from_env({"INTERESTS_TOPK": "5"})
    assert capsys.readouterr().err.count("INTERESTS_TOPK") == 1


def test_the_process_environment_is_checked_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTERESTS_BACH_SIZE", "5")
    Settings.from_env()
    assert "did you mean INTERESTS_BATCH_SIZE?" in capsys.readouterr().err


def test_known_and_unprefixed_variables_get_no_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    warn_unknown({**Settings().as_env(), "PATH": "/bin", "TOPK": "1", "MY_INTERESTS_X": "1"})
    assert capsys.readouterr().err == ""
