"""The dead-letter record (streams/dead_letter.py)."""

from __future__ import annotations

import base64
import hashlib

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.worker.dead_letter import DeadLetter

FAST = settings(max_examples=200, deadline=None)


def record(letter: DeadLetter) -> dict[str, object]:
    decoded = orjson.loads(letter.to_json())
    assert isinstance(decoded, dict)
    return decoded


def test_record_has_exactly_the_documented_keys() -> None:
    letter = DeadLetter("not JSON", b"{", "interactions", 3, 42)
    assert set(record(letter)) == {
        "reason",
        "raw",
        "raw_bytes",
        "raw_sha256",
        "truncated",
        "topic",
        "partition",
        "offset",
    }


@FAST
@given(raw=st.binary(max_size=4096), cap=st.integers(min_value=0, max_value=2048))
def test_raw_is_capped_and_the_original_is_described(raw: bytes, cap: int) -> None:
    out = record(DeadLetter("r", raw, "t", 0, 0, max_raw_bytes=cap))
    assert DeadLetter.original_bytes(out) == raw[:cap]
    assert out["raw_bytes"] == len(raw)
    assert out["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert out["truncated"] is (len(raw) > cap)


def test_record_carries_reason_topic_partition_and_offset() -> None:
    out = record(DeadLetter("missing ts", b"{}", "interactions", 3, 42))
    assert out["reason"] == "missing ts"
    assert out["topic"] == "interactions"
    assert out["partition"] == 3
    assert out["offset"] == 42


def test_raw_is_standard_base64_of_the_original_bytes() -> None:
    out = record(DeadLetter("r", b"\xff\x00{", "t", 0, 0))
    assert out["raw"] == base64.b64encode(b"\xff\x00{").decode("ascii")


def test_none_value_becomes_empty_bytes() -> None:
    out = record(DeadLetter("empty message", None, "t", 0, 0))
    assert out["raw"] == ""
    assert DeadLetter.original_bytes(out) == b""


@FAST
@given(
    raw=st.binary(max_size=2048),
    reason=st.text(max_size=64),
    topic=st.text(min_size=1, max_size=32),
    partition=st.integers(min_value=0, max_value=2**31 - 1),
    offset=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_original_bytes_round_trip(
    raw: bytes, reason: str, topic: str, partition: int, offset: int
) -> None:
    out = record(DeadLetter(reason, raw, topic, partition, offset))
    assert DeadLetter.original_bytes(out) == raw
    assert (out["reason"], out["topic"], out["partition"], out["offset"]) == (
        reason,
        topic,
        partition,
        offset,
    )
