"""Vectors for catalog items nobody has interacted with yet.

The trainer fits a content projection (hashed category, tags and title words
→ item embedding) on the items the model knows, then places every catalog item
it does not know with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from models.content_projection import ContentProjection, ItemFeatures, hash_catalog
from models.text_encoder import TextEncoder, item_text, text_features

MIN_FITTED_ITEMS = 10


def cold_start_vectors(
    catalog: Mapping[str, Mapping[str, object]],
    known: Mapping[str, np.ndarray],
    l2: float = 1.0,
    encoder: TextEncoder | None = None,
) -> tuple[ContentProjection | None, dict[str, np.ndarray]]:
    """The fitted projection (None with too few described known items) and the new vectors.

    With an ``encoder``, each item's title and description are embedded too and
    appended to its hashed features (the projection is then wider by the
    encoder's dimension; see :mod:`models.text_encoder`).

    >>> catalog = {f"i{n}": {"category": f"c{n % 2}"} for n in range(20)}
    >>> known = {f"i{n}": np.array([1.0, 0.0] if n % 2 else [0.0, 1.0]) for n in range(19)}
    >>> projection, vectors = cold_start_vectors({**catalog, "new": {"category": "c1"}}, known)
    >>> sorted(vectors), bool(vectors["new"][0] > vectors["new"][1])
    (['i19', 'new'], True)
    """
    described = [i for i in known if i in catalog]
    if len(described) < MIN_FITTED_ITEMS:
        return None, {}
    width = hash_catalog([ItemFeatures()]).shape[1] + (encoder.dim if encoder else 0)
    features = _features(catalog, described, encoder, width)
    targets = np.stack([known[i] for i in described]).astype(np.float32)
    projection = ContentProjection.fit(features, targets, l2=l2)
    unknown = [i for i in catalog if i not in known]
    if not unknown:
        return projection, {}
    placed = projection.project_many(_features(catalog, unknown, encoder, width))
    norm = typical_norm(np.stack(list(known.values())))
    return projection, {i: at_length(placed[row], norm) for row, i in enumerate(unknown)}


def _features(
    catalog: Mapping[str, Mapping[str, object]],
    ids: list[str],
    encoder: TextEncoder | None,
    width: int,
) -> np.ndarray:
    hashed = hash_catalog([ItemFeatures.from_json(catalog[i]) for i in ids])
    return text_features(hashed, [item_text(catalog[i]) for i in ids], encoder, width)


def typical_norm(vectors: np.ndarray) -> float:
    """The median length of known item vectors (rows).

    Ridge shrinks projections towards zero, and under dot-product scoring a
    short vector is never recommended: a new item gets a typical length.
    """
    return float(np.median(np.linalg.norm(vectors, axis=1))) if len(vectors) else 1.0


def at_length(vector: np.ndarray, length: float) -> np.ndarray:
    """``vector`` scaled to ``length``; the zero vector stays zero."""
    norm = float(np.linalg.norm(vector))
    scaled: np.ndarray = (vector * (length / norm) if norm > 0 else vector).astype(np.float32)
    return scaled
