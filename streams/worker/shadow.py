"""The worker's part in a shadow run: score the candidate beside the current version.

Each batch, up to ``INTERESTS_SHADOW_USERS_PER_BATCH`` committed users whose
first positive event can be checked against a list the *current* version showed
them are scored twice (see :mod:`models.shadow`), and the batch's sums go to
Redis for the trainer. Nothing the candidate ranks is published.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from models.blend import MixWeightLearner
from models.fused_scoring import as_blend
from models.gru_step import GRUStepper
from models.item_table import TRAINED_SPACE_NEW_ITEM_SCALE, ItemTable
from models.live_quality import rank_in_shown
from models.shadow import ShadowModel, ShadowTally
from state.errors import StoreUnavailable
from state.shadow import ShadowBook
from state.user_store import StoredUser, UserStore
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShadowScores:
    """One batch's paired scoring: sums for the trainer, ranks for the live metrics."""

    version: str
    tally: ShadowTally
    candidate_ranks: list[int]


class ShadowScoring:
    """Follows the shadow pointer and scores the candidate it names."""

    def __init__(self, settings: Settings, store: UserStore, book: ShadowBook | None) -> None:
        self.settings = settings
        self.store = store
        self.book = book
        self.model: ShadowModel | None = None
        self._failed: str | None = None  # a version that could not be loaded; not retried

    @property
    def active(self) -> bool:
        return self.model is not None

    async def poll(self, current_version: str) -> None:
        """Load, drop or keep the candidate as the pointer says (between batches)."""
        if self.book is None:
            return
        version = await self.book.version()
        if version is None or version == current_version:
            if self.model is not None:
                log.info("shadow of %s ended", self.model.version)
            self.model = None
            return
        if (self.model is not None and self.model.version == version) or version == self._failed:
            return
        vectors = await self.store.load_items(version)
        if not vectors:
            log.error("shadow %s has no item vectors in Redis; not scoring it", version)
            self._failed = version
            return
        items = ItemTable(
            self.settings.vector_size,
            self.settings.seed,
            new_item_scale=TRAINED_SPACE_NEW_ITEM_SCALE,
        )
        items.load(vectors)
        raw = await self.store.load_gru_step(version)
        try:
            stepper = GRUStepper.from_bytes(raw) if raw else None
        except ValueError as exc:
            log.error("shadow %s: unusable GRU step (%s); not scoring it", version, exc)
            self._failed = version
            return
        self.model = ShadowModel(version, items, stepper, blend=as_blend(self.settings.blend))
        log.info("scoring %s in the shadow of %s (%d items)", version, current_version, len(items))

    def score(
        self,
        users: Sequence[StoredUser],
        chosen: Sequence[str | None],
        current_version: str,
        mix: MixWeightLearner,
    ) -> ShadowScores | None:
        """Pair up current and candidate ranks of users' chosen items (state before the batch)."""
        model = self.model
        if model is None:
            return None
        k = self.settings.live_quality_k
        picked: list[tuple[StoredUser, str, int]] = []
        for user, item in zip(users, chosen, strict=True):
            if item is None or user.shown is None:
                continue
            try:
                shown = orjson.loads(user.shown)
                if shown["model_version"] != current_version:
                    continue  # a list of an older version says nothing of the current one
                ids = [entry["item_id"] for entry in shown["items"]]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            picked.append((user, item, rank_in_shown(ids, item, k)))
            if len(picked) >= self.settings.shadow_users_per_batch:
                break
        if not picked:
            return None
        offsets = np.fromiter((u.mix_offset for u, _, _ in picked), np.float64, len(picked))
        candidate = model.ranks(
            [u.recent_items for u, _, _ in picked],
            mix.weights(offsets),
            [i for _, i, _ in picked],
            k,
        )
        current = [rank for _, _, rank in picked]
        return ShadowScores(model.version, ShadowTally.of(current, candidate, k), candidate)

    async def record(self, scores: ShadowScores) -> None:
        """Best-effort: figures lost to an outage only mean fewer events scored."""
        if self.book is None:
            return
        try:
            await self.book.add(scores.version, scores.tally)
        except StoreUnavailable as exc:
            log.warning("shadow figures of one batch dropped: %s", exc)
