"""Vectors for cold-start items, predicted from their catalog entry.

A new item has no interactions, so its learned embedding does not exist yet.
Its catalog entry (category, tags, title) does: we hash those into a sparse
feature vector and map it into the embedding space with a ridge regression
fitted on items whose embeddings are already learned. Hashing needs no
vocabulary, so an unseen tag costs nothing and every worker agrees on it.

Serialised weights are ``b"CPJ1"``, then little-endian uint32 rows, cols and
fitted item count, then ``rows × cols`` little-endian float32 values, row-major
(a 16-byte header, so the floats stay aligned for any reader).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"\w+")
_HEADER = struct.Struct("<4sIII")
_MAGIC = b"CPJ1"


def _text(value: object) -> str | None:
    """A stripped, lower-cased string, or None for missing and empty values."""
    if value is None or isinstance(value, bool | Mapping | list | tuple):
        return None
    text = str(value).strip().lower()
    return text or None


@dataclass(frozen=True, slots=True)
class ItemFeatures:
    """What the catalog says about an item, normalised to lower case.

    >>> ItemFeatures.from_json({"category": "Shoes", "tags": ["Red", "", None]})
    ItemFeatures(category='shoes', tags=('red',), title=None)
    >>> ItemFeatures.from_json({"tags": "sale"}).tags
    ('sale',)
    """

    category: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None

    @classmethod
    def from_json(cls, entry: Mapping[str, object]) -> ItemFeatures:
        """Read a decoded catalog message; missing or odd fields become empty."""
        raw_tags = entry.get("tags")
        items: Iterable[object] = raw_tags if isinstance(raw_tags, list | tuple) else [raw_tags]
        tags = tuple(tag for tag in map(_text, items) if tag is not None)
        return cls(_text(entry.get("category")), tags, _text(entry.get("title")))

    def tokens(self) -> list[str]:
        """The hashed tokens, lower-cased: ``cat=…``, ``tag=…`` and title words ``w=…``.

        >>> ItemFeatures("Shoes", ("Red",), "Trail-Runner 2").tokens()
        ['cat=shoes', 'tag=red', 'w=trail', 'w=runner', 'w=2']
        """
        out = [f"cat={self.category.lower()}"] if self.category else []
        out += [f"tag={tag.lower()}" for tag in self.tags]
        out += [f"w={word}" for word in _WORD.findall((self.title or "").lower())]
        return out


def _bucket_and_sign(token: str, n_buckets: int, seed: int) -> tuple[int, float]:
    digest = hashlib.blake2b(f"{seed}:{token}".encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    # The top bit picks the sign, so collisions cancel on average instead of adding up.
    return (value & 0x7FFF_FFFF_FFFF_FFFF) % n_buckets, -1.0 if value >> 63 else 1.0


def hash_features(features: ItemFeatures, n_buckets: int = 512, seed: int = 0) -> np.ndarray:
    """Signed feature hashing, L2-normalised; a repeated word counts twice; none gives zeros.

    >>> x = hash_features(ItemFeatures("shoes", ("red",), "Trail Runner"), n_buckets=64)
    >>> x.shape, x.dtype, round(float(np.linalg.norm(x)), 5)
    ((64,), dtype('float32'), 1.0)
    >>> bool(hash_features(ItemFeatures()).any())
    False
    """
    if n_buckets < 1:
        raise ValueError("n_buckets must be positive")
    vector = np.zeros(n_buckets, dtype=np.float64)
    for token in features.tokens():
        bucket, sign = _bucket_and_sign(token, n_buckets, seed)
        vector[bucket] += sign
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def hash_catalog(items: Sequence[ItemFeatures], n_buckets: int = 512, seed: int = 0) -> np.ndarray:
    """:func:`hash_features` of many items, one row each."""
    rows = [hash_features(item, n_buckets, seed) for item in items]
    return np.stack(rows) if rows else np.zeros((0, n_buckets), dtype=np.float32)


def features_matrix(hashed: np.ndarray, dense: np.ndarray | None = None) -> np.ndarray:
    """Hashed features with optional dense ones (say, a text embedding) appended.

    Works on one item (1-D) or many (2-D, one row each).

    >>> features_matrix(np.ones(2, np.float32), np.zeros(3, np.float32)).tolist()
    [1.0, 1.0, 0.0, 0.0, 0.0]
    """
    if dense is None:
        return np.asarray(hashed, dtype=np.float32)
    if hashed.ndim != dense.ndim or hashed.shape[:-1] != dense.shape[:-1]:
        raise ValueError(f"cannot join features {hashed.shape} and dense {dense.shape}")
    return np.concatenate([hashed, dense], axis=-1).astype(np.float32)


def _ridge_weights(x: np.ndarray, y: np.ndarray, l2: float, dual: bool) -> np.ndarray:
    """``W`` minimising ``|XW − Y|² + l2·|W|²``, from the smaller linear system."""
    if dual:
        # W = Xᵀ (XXᵀ + λI)⁻¹ Y: an n×n system, cheaper when items are fewer than features.
        gram = x @ x.T + l2 * np.eye(x.shape[0])
        weights: np.ndarray = x.T @ np.linalg.solve(gram, y)
        return weights
    gram = x.T @ x + l2 * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x.T @ y)
    return weights


class ContentProjection:
    """A linear map from item features to the embedding space, fitted by ridge.

    There is no intercept: an item with no features projects to zero, which
    the ranker treats as "no opinion" rather than as the average item.

    >>> x = np.eye(3, dtype=np.float32)
    >>> y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    >>> model = ContentProjection.fit(x, y, l2=1e-6)
    >>> np.round(model.project(x[2]), 3).tolist(), model.fitted_items
    ([1.0, 1.0], 3)
    >>> ContentProjection.from_bytes(model.to_bytes()).to_bytes() == model.to_bytes()
    True
    """

    def __init__(self, weights: np.ndarray, fitted_items: int) -> None:
        if weights.ndim != 2:
            raise ValueError("weights must be a features × dim matrix")
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.fitted_items = fitted_items

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[0])

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, l2: float = 1.0, dual: bool | None = None
    ) -> ContentProjection:
        """Closed-form ridge from features ``x`` (n×b) to embeddings ``y`` (n×d).

        ``dual=None`` picks the n×n system when n < b, else the b×b one.
        """
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"need x (n×b) and y (n×d) with equal n, got {x.shape}, {y.shape}")
        if not l2 > 0:
            raise ValueError("l2 must be positive")
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if not (np.isfinite(x64).all() and np.isfinite(y64).all()):
            raise ValueError("features and embeddings must be finite")
        use_dual = x.shape[0] < x.shape[1] if dual is None else dual
        return cls(_ridge_weights(x64, y64, l2, use_dual), fitted_items=int(x.shape[0]))

    def project(self, x: np.ndarray) -> np.ndarray:
        """The predicted embedding (d,) of one item's features (b,)."""
        if x.shape != (self.n_features,):
            raise ValueError(f"expected {self.n_features} features, got shape {x.shape}")
        out: np.ndarray = x.astype(np.float32) @ self.weights
        return out

    def project_many(self, x: np.ndarray) -> np.ndarray:
        """Predicted embeddings (n×d) of many items' features (n×b)."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected (n, {self.n_features}) features, got shape {x.shape}")
        out: np.ndarray = x.astype(np.float32) @ self.weights
        return out

    def to_bytes(self) -> bytes:
        rows, cols = self.weights.shape
        header = _HEADER.pack(_MAGIC, rows, cols, self.fitted_items)
        return header + self.weights.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> ContentProjection:
        if len(raw) < _HEADER.size:
            raise ValueError("content projection bytes are shorter than the header")
        magic, rows, cols, fitted = _HEADER.unpack_from(raw)
        if magic != _MAGIC:
            raise ValueError(f"not a content projection (magic {magic!r})")
        if len(raw) != _HEADER.size + 4 * rows * cols:
            raise ValueError(f"expected {rows}×{cols} float32 values after the header")
        weights = np.frombuffer(raw, dtype="<f4", offset=_HEADER.size).reshape(rows, cols)
        return cls(weights.astype(np.float32), fitted_items=fitted)
