"""Byte formats of values in Redis, readable from any language.

Vectors are little-endian IEEE-754 float32, packed with no header.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

VECTOR_DTYPE = np.dtype("<f4")


class CodecError(ValueError):
    """Bytes in Redis are not what the layout says they are."""


def encode_vector(vector: np.ndarray) -> bytes:
    """Pack a vector as little-endian float32.

    >>> encode_vector(np.array([1.0, -2.0]))
    b'\\x00\\x00\\x80?\\x00\\x00\\x00\\xc0'
    """
    return np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()


def decode_vector(raw: bytes, dim: int | None = None) -> np.ndarray:
    """Unpack little-endian float32 bytes into a native float32 array.

    >>> decode_vector(b'\\x00\\x00\\x80?\\x00\\x00\\x00\\xc0').tolist()
    [1.0, -2.0]
    """
    if len(raw) % VECTOR_DTYPE.itemsize:
        raise CodecError(f"vector of {len(raw)} bytes is not a whole number of float32")
    vector = np.frombuffer(raw, dtype=VECTOR_DTYPE).astype(np.float32)
    if dim is not None and vector.shape[0] != dim:
        raise CodecError(f"vector has {vector.shape[0]} values, expected {dim}")
    return vector


def encode_json(value: Any) -> bytes:
    return orjson.dumps(value)


def decode_json(raw: bytes | None, default: Any) -> Any:
    if raw is None:
        return default
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CodecError(f"stored JSON is corrupt: {exc}") from None
