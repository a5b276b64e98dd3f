"""Byte formats of values in Redis (state/codec.py)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from state.codec import CodecError, decode_json, decode_vector, encode_vector

FAST = settings(max_examples=200, deadline=None)
float32_vectors = hnp.arrays(
    np.float32,
    st.integers(min_value=0, max_value=64),
    elements=st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True),
)


@FAST
@given(float32_vectors)
def test_vector_round_trips(vector: np.ndarray) -> None:
    decoded = decode_vector(encode_vector(vector), dim=vector.shape[0])
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, vector)
    assert np.array_equal(decoded, vector, equal_nan=True)
    assert np.array_equal(np.signbit(decoded), np.signbit(vector))


def test_negative_zero_keeps_its_sign() -> None:
    decoded = decode_vector(encode_vector(np.array([-0.0, 0.0], np.float32)))
    assert decoded.tolist() == [0.0, 0.0]
    assert np.signbit(decoded).tolist() == [True, False]


def test_bytes_are_little_endian_float32() -> None:
    raw = encode_vector(np.array([1.0, -2.0, 0.5], np.float32))
    assert raw == struct.pack("<3f", 1.0, -2.0, 0.5)
    assert raw == b"\x00\x00\x80?\x00\x00\x00\xc0\x00\x00\x00?"


def test_float64_input_is_narrowed_to_float32() -> None:
    raw = encode_vector(np.array([0.1, 1 / 3], np.float64))
    assert raw == struct.pack("<2f", 0.1, 1 / 3)


def test_big_endian_input_is_written_little_endian() -> None:
    vector = np.array([1.0, -2.0], dtype=">f4")
    assert encode_vector(vector) == struct.pack("<2f", 1.0, -2.0)


def test_list_input_is_accepted() -> None:
    assert encode_vector([1.0, 2.0]) == struct.pack("<2f", 1.0, 2.0)  # type: ignore[arg-type]


def test_decoded_vector_is_native_and_writable() -> None:
    decoded = decode_vector(struct.pack("<2f", 1.0, 2.0))
    assert decoded.dtype == np.dtype(np.float32)
    decoded[0] = 5.0
    assert decoded.tolist() == [5.0, 2.0]


def test_empty_bytes_decode_to_empty_vector() -> None:
    assert decode_vector(b"").shape == (0,)


@pytest.mark.parametrize("length", [1, 2, 3, 5, 7])
def test_length_not_a_multiple_of_four_is_a_codec_error(length: int) -> None:
    with pytest.raises(CodecError, match="float32"):
        decode_vector(b"\x00" * length)


@pytest.mark.parametrize(("values", "dim"), [(3, 4), (4, 3), (0, 1)])
def test_wrong_dim_is_a_codec_error(values: int, dim: int) -> None:
    with pytest.raises(CodecError, match=f"expected {dim}"):
        decode_vector(b"\x00" * (4 * values), dim=dim)


def test_codec_errors_are_caught_as_value_errors() -> None:
    """Callers that guard decoding with ``except ValueError`` see every codec failure."""
    with pytest.raises(ValueError):
        decode_vector(b"\x00")
    with pytest.raises(ValueError):
        decode_json(b"{", default=None)


def test_decode_json_returns_default_for_missing_value() -> None:
    default: list[str] = []
    assert decode_json(None, default) is default


def test_stored_json_null_is_not_the_default() -> None:
    assert decode_json(b"null", default=[]) is None


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff", b"[1,]", b"nan"])
def test_corrupt_json_is_a_codec_error(raw: bytes) -> None:
    with pytest.raises(CodecError, match="corrupt"):
        decode_json(raw, default=None)
