"""The five recommenders the streaming protocols compare, behind one small interface.

Every variant scores the catalogue rows seen so far for a user (or says it has
nothing to score with), learns one event, and hears about long-term refreshes.
Rows are those of the run's :class:`~models.evaluation.catalog.Catalog`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import numpy as np

from models.evaluation.catalog import Catalog
from models.evaluation.config import EvalConfig
from models.evaluation.events import StreamEvent
from models.evaluation.hot_swap import rebase_short_term, swap_item_vectors
from models.evaluation.long_term_source import LongTermSource
from models.evaluation.river_mf import OnlineMF
from models.fused_scoring import Blend, FusionSpace, LongTermItems, mix_learner
from models.interest_model import InterestModel, UserInterest
from models.item_table import ItemTable
from models.long_term.fit import LongTermRefresh
from models.online_item_factors import OnlineItemFactors
from models.trending import TrendingItems

VARIANTS = ("popularity", "river_mf", "short_term", "long_term", "blend")
STREAM_VARIANTS = (*VARIANTS, "fusion")
"""The streaming protocols add the blend under score-level fusion (``models.fused_scoring``)."""


class StreamVariant(Protocol):
    name: str

    def scores(self, user_id: str, n_rows: int) -> np.ndarray | None:
        """Scores of rows ``0..n_rows-1``, or None when the variant has nothing for the user."""

    def learn(self, event: StreamEvent, row: int, weight: float, key: int) -> None:
        """Apply one event (``key`` is its stream position, a deterministic seed)."""

    def refreshed(self, refresh: LongTermRefresh) -> None:
        """A new long-term model was trained on the past."""


class Popularity:
    """Recent popularity: time-decayed event counts, the same for every user."""

    name = "popularity"

    def __init__(self, half_life_s: float) -> None:
        self.trend = TrendingItems(half_life_s)

    def scores(self, user_id: str, n_rows: int) -> np.ndarray | None:
        scores = self.trend.scores[:n_rows]
        return scores if scores.shape[0] == n_rows else np.pad(scores, (0, n_rows - len(scores)))

    def learn(self, event: StreamEvent, row: int, weight: float, key: int) -> None:
        self.trend.add(row, event.ts, max(weight, 0.0))

    def refreshed(self, refresh: LongTermRefresh) -> None:
        pass


class RiverMF:
    """river's BiasedMF, one ``learn_one`` per observed pair and per sampled negative."""

    name = "river_mf"

    def __init__(self, config: EvalConfig, catalog: Catalog) -> None:
        self.mf = OnlineMF(config.mf)
        self.negatives = config.mf.negatives
        self.catalog = catalog
        self.rng = np.random.default_rng(config.mf.seed)

    def scores(self, user_id: str, n_rows: int) -> np.ndarray | None:
        return self.mf.scores(user_id, n_rows)

    def learn(self, event: StreamEvent, row: int, weight: float, key: int) -> None:
        if weight == 0:
            return
        sampled = self.rng.integers(0, len(self.catalog), self.negatives if weight > 0 else 0)
        negatives = [(self.catalog.ids[r], int(r)) for r in sampled if r != row]
        self.mf.learn(event.user_id, event.item_id, row, negatives, positive=weight > 0)

    def refreshed(self, refresh: LongTermRefresh) -> None:
        pass


class Interest:
    """The worker's :class:`InterestModel`; with a long-term source it is the blend.

    ``blend`` is the worker's ``INTERESTS_BLEND``: under ``fusion`` each part
    scores in its own item space (the GRU's item vectors of the last refresh
    beside the online table) through the worker's functions.
    """

    def __init__(
        self,
        name: str,
        config: EvalConfig,
        long_term: LongTermSource | None,
        cold: Popularity | None = None,
        blend: Blend = "vector",
    ) -> None:
        self.name = name
        self.cold = cold  # what a user the service has never seen is shown
        self.config = config
        self.blend = blend
        self.items = ItemTable(config.dim, config.seed)
        self.model = InterestModel(
            self.items, config.interest, mix_learner(blend, config.blend_prior, config.learn_mix)
        )
        self.users: dict[str, UserInterest] = {}
        self.long_term = long_term

    def user(self, user_id: str) -> UserInterest:
        """The user's state; with a frozen long-term source, carrying its vector for them."""
        user = self.users.get(user_id) or UserInterest.new(self.items.dim)
        if self.long_term is None or self.model.stepper is not None:
            return user  # short-term only, or the blend stepping long-term itself
        return replace(user, long_term=self.long_term.vector(user_id))

    def take_item_vectors(self, ids: list[str], vectors: np.ndarray) -> None:
        """The hot swap: GRU item vectors in, short-term vectors rebased, item step changed."""
        swap_item_vectors(self.items, ids, vectors)
        for user_id, user in self.users.items():
            self.users[user_id] = rebase_short_term(user, self.items)
        self.set_item_step(self.config.swap_learning_rate)

    def set_item_step(self, step: float | None) -> None:
        """The online item-vector step from now on (0: frozen; None: unchanged)."""
        if step is not None:
            interest = replace(self.model.config, learning_rate=step, learn_items=step > 0)
            self.model.config = interest
            self.model.factors = OnlineItemFactors(self.items, step, interest.l2)

    def scores(self, user_id: str, n_rows: int) -> np.ndarray | None:
        if user_id not in self.users and self.cold is not None:
            return self.cold.scores(user_id, n_rows)  # trending, as the reader serves them
        if len(self.items) != n_rows:
            raise RuntimeError(f"{self.name}: item table has {len(self.items)} rows, not {n_rows}")
        scores: np.ndarray = self.model.score_rows([self.user(user_id)])[0]
        return scores

    def learn(self, event: StreamEvent, row: int, weight: float, key: int) -> None:
        user, _ = self.model.apply(
            self.user(event.user_id), event.item_id, event.event_type, event.ts, sample_key=key
        )
        self.users[event.user_id] = user

    def refreshed(self, refresh: LongTermRefresh) -> None:
        if self.long_term is None:
            return
        self.take_item_vectors(refresh.item_ids, refresh.item_vectors)
        if self.blend == "fusion":  # as the worker's swap: the version's GRU item vectors
            self.model.fusion = FusionSpace(LongTermItems(refresh.item_ids, refresh.item_vectors))
        if self.long_term.mode == "event":  # as the worker: published states, stepped on
            self.model.stepper = refresh.stepper
            for user_id, user in self.users.items():
                state = refresh.user_states.get(user_id)
                if state is None:
                    user = self.model.restart_long_term(replace(user, long_term=None))
                else:
                    vector = refresh.user_vectors[user_id]
                    user = replace(user, long_term=vector, long_term_state=state)
                self.users[user_id] = user


class LongTerm:
    """The GRU's user vector (see :class:`LongTermSource`) against its item vectors."""

    name = "long_term"

    def __init__(self, source: LongTermSource) -> None:
        self.source = source

    def scores(self, user_id: str, n_rows: int) -> np.ndarray | None:
        vector = self.source.vector(user_id)
        if self.source.refresh is None or vector is None:
            return None  # nothing learned about this user yet: every target is a miss
        known = self.source.refresh.item_vectors[:n_rows] @ vector
        # Items newer than the model cannot be recommended by it.
        return np.pad(known, (0, n_rows - known.shape[0]), constant_values=-np.inf)

    def learn(self, event: StreamEvent, row: int, weight: float, key: int) -> None:
        self.source.learn(event.user_id, event.item_id, weight)

    def refreshed(self, refresh: LongTermRefresh) -> None:
        pass  # the shared source hears about it first


def build_variants(
    config: EvalConfig, catalog: Catalog, source: LongTermSource
) -> list[StreamVariant]:
    """One of each, in :data:`STREAM_VARIANTS` order; ``source`` must hear of refreshes first."""
    popularity = Popularity(config.popularity_half_life_s)
    short_term = Interest("short_term", config, long_term=None, cold=popularity)
    long_term = LongTerm(source)
    return [
        popularity,
        RiverMF(config, catalog),
        short_term,
        long_term,
        Interest("blend", config, long_term=source, cold=popularity),
        Interest("fusion", config, long_term=source, cold=popularity, blend="fusion"),
    ]
