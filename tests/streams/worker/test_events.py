"""Decoding and validation of interaction events (streams/events.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.worker.events import MAX_ID_LENGTH, Event, EventRules, Rejection, decode_event

NOW = 1_732_363_200.0
RULES = EventRules(frozenset({"view", "click", "purchase"}), max_event_bytes=4096)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = json_values | st.sampled_from(["click", "view", "2024-11-23T12:00:00Z", 1.5])
event_like = st.dictionaries(
    st.sampled_from(["user_id", "item_id", "type", "ts", "event_id", "context"]),
    field_values,
)
valid_ids = st.text(min_size=1, max_size=MAX_ID_LENGTH).filter(lambda s: s == s.strip() and s)


def body(**fields: Any) -> bytes:
    base: dict[str, Any] = {"user_id": "u1", "item_id": "i1", "type": "click", "ts": NOW - 10}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not _DROP})


_DROP = object()


def decode(raw: bytes | None, rules: EventRules = RULES) -> Event | Rejection:
    return decode_event(raw, rules, now=NOW)


def rejected(raw: bytes | None, rules: EventRules = RULES) -> str:
    result = decode(raw, rules)
    assert isinstance(result, Rejection), result
    assert result.reason
    return result.reason


@FAST
@given(st.binary(max_size=5000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = decode(raw)
    assert isinstance(result, Event | Rejection)
    if isinstance(result, Rejection):
        assert result.reason


@FAST
@given(json_values)
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    result = decode(orjson.dumps(value))
    assert isinstance(result, Event | Rejection)
    if isinstance(result, Rejection):
        assert result.reason


@FAST
@given(event_like)
def test_arbitrary_event_shaped_objects_never_raise(value: dict[str, Any]) -> None:
    result = decode(orjson.dumps(value))
    assert isinstance(result, Event | Rejection)
    if isinstance(result, Rejection):
        assert result.reason


@pytest.mark.parametrize("bad_type", [[], {}, ["click"], {"a": 1}])
def test_unhashable_type_is_rejected_not_raised(bad_type: Any) -> None:
    assert "type" in rejected(body(type=bad_type))


@FAST
@given(
    user_id=valid_ids,
    item_id=valid_ids,
    event_type=st.sampled_from(sorted(RULES.event_types)),
    ts=st.floats(min_value=0, max_value=NOW + RULES.max_future_skew_s),
    event_id=st.none() | valid_ids,
)
def test_valid_event_round_trips_through_to_json(
    user_id: str, item_id: str, event_type: str, ts: float, event_id: str | None
) -> None:
    event = Event(user_id, item_id, event_type, ts, event_id)
    assert decode(event.to_json()) == event


def test_to_json_omits_missing_event_id() -> None:
    assert "event_id" not in orjson.loads(Event("u", "i", "click", 1.0).to_json())


@FAST
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer_ids_become_strings(number: int) -> None:
    event = decode(body(user_id=number, item_id=number, event_id=number))
    assert isinstance(event, Event)
    assert event.user_id == event.item_id == event.event_id == str(number)


@pytest.mark.parametrize("name", ["user_id", "item_id", "event_id"])
@pytest.mark.parametrize("flag", [True, False])
def test_boolean_ids_are_rejected(name: str, flag: bool) -> None:
    assert name in rejected(body(**{name: flag}))


@pytest.mark.parametrize("name", ["user_id", "item_id", "event_id"])
@pytest.mark.parametrize("value", [1.5, [1], {"id": 1}])
def test_non_string_non_integer_ids_are_rejected(name: str, value: Any) -> None:
    assert name in rejected(body(**{name: value}))


@pytest.mark.parametrize("name", ["user_id", "item_id"])
@pytest.mark.parametrize("blank", ["", " ", "\t\n ", "\u3000"])
def test_empty_or_whitespace_ids_are_rejected(name: str, blank: str) -> None:
    reason = rejected(body(**{name: blank}))
    assert "empty" in reason
    assert name in reason


def test_ids_are_stripped() -> None:
    event = decode(body(user_id="  u7 ", item_id="\ti9\n"))
    assert isinstance(event, Event)
    assert (event.user_id, event.item_id) == ("u7", "i9")


def test_id_longer_than_limit_is_rejected() -> None:
    assert "user_id" in rejected(body(user_id="x" * (MAX_ID_LENGTH + 1)))


def test_id_at_limit_is_accepted() -> None:
    assert isinstance(decode(body(user_id="x" * MAX_ID_LENGTH)), Event)


@pytest.mark.parametrize("name", ["user_id", "item_id", "ts"])
def test_missing_required_field_is_rejected_naming_it(name: str) -> None:
    assert name in rejected(body(**{name: _DROP}))


@pytest.mark.parametrize("name", ["user_id", "item_id", "ts"])
def test_null_required_field_is_rejected_naming_it(name: str) -> None:
    assert name in rejected(body(**{name: None}))


def test_missing_event_id_is_none() -> None:
    event = decode(body())
    assert isinstance(event, Event)
    assert event.event_id is None


@pytest.mark.parametrize("event_type", ["like", "", "CLICK", None, 3, True])
def test_unknown_or_missing_type_is_rejected(event_type: Any) -> None:
    assert "type" in rejected(body(type=event_type))


def test_absent_type_is_rejected() -> None:
    assert "type" in rejected(body(type=_DROP))


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_non_finite_ts_literals_are_rejected(literal: bytes) -> None:
    raw = b'{"user_id":"u","item_id":"i","type":"click","ts":' + literal + b"}"
    assert rejected(raw)


@pytest.mark.parametrize("ts", [1e300, -1.0, -1e300, NOW + RULES.max_future_skew_s + 1])
def test_out_of_range_ts_is_rejected(ts: float) -> None:
    assert "ts" in rejected(body(ts=ts))


def test_ts_exactly_at_skew_limit_is_accepted() -> None:
    ts = NOW + RULES.max_future_skew_s
    event = decode(body(ts=ts))
    assert isinstance(event, Event)
    assert event.ts == ts


def test_future_ts_reason_mentions_future() -> None:
    assert "future" in rejected(body(ts=NOW + 10_000))


def test_ts_zero_is_accepted() -> None:
    event = decode(body(ts=0))
    assert isinstance(event, Event)
    assert event.ts == 0.0


def test_integer_ts_becomes_float() -> None:
    event = decode(body(ts=1_700_000_000))
    assert isinstance(event, Event)
    assert event.ts == 1_700_000_000.0
    assert isinstance(event.ts, float)


@pytest.mark.parametrize("ts", [True, False, [1], {"t": 1}])
def test_non_numeric_non_string_ts_is_rejected(ts: Any) -> None:
    assert "ts" in rejected(body(ts=ts))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-23T12:00:00Z", 1_732_363_200.0),
        ("2024-11-23T12:00:00.5Z", 1_732_363_200.5),
        ("2024-11-23T14:00:00+02:00", 1_732_363_200.0),
        ("2024-11-23T07:30:00-04:30", 1_732_363_200.0),
        ("2024-11-23T12:00:00", 1_732_363_200.0),
        ("2024-11-23 12:00:00", 1_732_363_200.0),
        (" 2024-11-23T12:00:00Z ", 1_732_363_200.0),
        ("1970-01-01T00:00:00Z", 0.0),
        ("2024-11-23", 1_732_320_000.0),
    ],
)
def test_iso_8601_ts_is_parsed_to_epoch_seconds(text: str, expected: float) -> None:
    event = decode(body(ts=text))
    assert isinstance(event, Event), event
    assert event.ts == expected


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "",
        "2024-13-01T00:00:00Z",
        "1732363200",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2099-01-01T00:00:00Z",
    ],
)
def test_bad_or_out_of_range_iso_ts_is_rejected(text: str) -> None:
    assert "ts" in rejected(body(ts=text))


def test_oversize_payload_is_rejected_mentioning_the_limit() -> None:
    raw = body(user_id="u" * 200, context={"pad": "x" * RULES.max_event_bytes})
    reason = rejected(raw)
    assert str(RULES.max_event_bytes) in reason
    assert str(len(raw)) in reason


def test_payload_at_the_limit_is_accepted() -> None:
    raw = body()
    rules = EventRules(RULES.event_types, max_event_bytes=len(raw))
    assert isinstance(decode(raw, rules), Event)
    assert "limit" in rejected(raw, EventRules(RULES.event_types, max_event_bytes=len(raw) - 1))


def test_extra_fields_are_ignored() -> None:
    assert isinstance(decode(body(context={"page": "home"}, extra=[1, 2])), Event)


@pytest.mark.parametrize("value", [[], [1, 2], 3, 1.5, "text", None, True])
def test_non_object_json_is_rejected(value: Any) -> None:
    assert "object" in rejected(orjson.dumps(value))


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"{'a': 1}", b"nul", b"{} {}"])
def test_invalid_json_is_rejected(raw: bytes) -> None:
    assert "JSON" in rejected(raw)


@pytest.mark.parametrize("raw", [None, b""])
def test_none_or_empty_message_is_rejected(raw: bytes | None) -> None:
    assert "empty" in rejected(raw)


def test_default_now_is_wall_clock() -> None:
    assert isinstance(decode_event(body(ts=NOW), RULES), Event)
    assert isinstance(decode_event(body(ts=4e9), RULES), Rejection)
