"""Search events in the worker: queries placed in the item space, added after the fold.

A batch's queries are encoded together (one call of the sentence model, in a
thread so the event loop keeps heartbeating) and placed by the model
version's content projection at a typical item length; each user's searches
are then added to their folded short-term vector (:mod:`models.signals`).
The sentence model is loaded with the first model version whose projection
was fitted with text (before the worker switches to it). Without a projection
(the ``online`` version, before any refresh) a search is still applied
(counted, its offset stored) but cannot move the vector: the worker counts
those as ``unplaced``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np
import orjson

from models.cold_start import typical_norm
from models.content_projection import ContentProjection, ItemFeatures, hash_features
from models.interest_model import FoldedBatch
from models.short_term import UserVector
from models.signals import add_signals
from models.text_encoder import (
    HASHED_FEATURES,
    TextEncoder,
    item_text,
    load_text_encoder,
    place_texts,
    text_features,
)
from streams.worker.events import Event

log = logging.getLogger(__name__)


class _HasEvent(Protocol):
    @property
    def event(self) -> Event: ...


class SearchPlacer:
    """Encodes and places a batch's queries; loads the encoder once, at start."""

    def __init__(self, text_model: str, half_life_s: float) -> None:
        self.text_model = text_model
        self.half_life_s = half_life_s
        self.encoder: TextEncoder | None = None
        self.placed = 0
        self.unplaced = 0
        self.encode_s = 0.0  # time spent placing queries (encoder and projection)
        self._norm: tuple[int, int, float] | None = None  # (id, rows, median) of a matrix
        self._loaded = False

    async def load(self) -> None:
        """Load the sentence model (seconds) off the event loop; None: hashed words.

        Called at the first search placed by a projection fitted with text, so a
        worker that never needs the model never pays for it (time, memory)."""
        self.encoder = await asyncio.to_thread(load_text_encoder, self.text_model)
        self._loaded = True
        log.info(
            "search queries are placed by %s",
            self.encoder.name if self.encoder else "their hashed words",
        )

    async def prepare(self, projection: ContentProjection | None) -> None:
        """Load the sentence model with a version whose projection was fitted with text,
        before the worker switches to it, so no batch or catalogue entry waits for it."""
        if projection is not None and projection.n_features > HASHED_FEATURES and not self._loaded:
            await self.load()

    def _length(self, matrix: np.ndarray) -> float:
        key = (id(matrix), len(matrix))
        if self._norm is None or self._norm[:2] != key:
            self._norm = (*key, typical_norm(matrix) if len(matrix) else 1.0)
        return self._norm[2]

    async def place_item(
        self, features: ItemFeatures, raw: bytes, projection: ContentProjection
    ) -> np.ndarray:
        """A new catalogue item's projected vector (not yet at item length): its hashed
        features, and its title and description when the projection was fitted with text."""
        hashed = hash_features(features)
        if projection.n_features == hashed.size:
            return projection.project(hashed)
        if not self._loaded:
            await self.load()
        body = orjson.loads(raw)
        text = item_text(body) if isinstance(body, dict) else ""
        row = await asyncio.to_thread(
            text_features, hashed[None, :], [text], self.encoder, projection.n_features
        )
        return projection.project(row[0])

    async def apply(
        self,
        folded: FoldedBatch,
        fresh_events: Sequence[Sequence[_HasEvent]],
        projection: ContentProjection | None,
        matrix: np.ndarray,
        weights: Mapping[str, float] | None = None,
    ) -> None:
        """Add each user's searches to their folded short-term vector, in place."""
        queries = [
            (user, x.event)
            for user, fresh in enumerate(fresh_events)
            for x in fresh
            if x.event.is_search
        ]
        # A user with no item event in the batch and no earlier time comes back with NaN.
        for i, after in enumerate(folded.users):
            if after.short_term.ts is not None and np.isnan(after.short_term.ts):
                folded.users[i] = replace(after, short_term=UserVector(after.short_term.vector))
        if not queries:
            return
        if projection is None:
            self.unplaced += len(queries)
            return
        if projection.n_features > HASHED_FEATURES and not self._loaded:
            await self.load()
        started = time.perf_counter()
        texts = [event.query or "" for _, event in queries]
        vectors = await asyncio.to_thread(
            place_texts, texts, projection, self.encoder, self._length(matrix)
        )
        self.encode_s += time.perf_counter() - started
        self.placed += len(queries)
        owner = np.fromiter((user for user, _ in queries), np.intp, len(queries))
        event_weights = weights or {}
        w = np.fromiter((event_weights.get(e.type, 1.0) for _, e in queries), np.float64)
        ts = np.fromiter((e.ts for _, e in queries), np.float64)
        for user in np.unique(owner).tolist():
            take = owner == user
            after = folded.users[user]
            moved = add_signals(
                after.short_term, vectors[take], w[take], ts[take], self.half_life_s
            )
            folded.users[user] = replace(after, short_term=moved)
