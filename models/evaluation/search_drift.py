"""The drift protocol with searches: short-term adaptation with and without a search.

Synthetic drifting users (events with their ground-truth category) are
replayed through two copies of the worker's short-term model. In one, every
interest switch (after a warm-up) is preceded by a search: a query drawn from
the titles of the new category's items, placed in the item space by a content
projection fitted on the titles and the current item vectors (refitted every
``refit_every`` events, as a trainer refresh would) and added to the
short-term vector at the search's weight (:func:`models.signals.add_signals`,
as the worker adds it). Both copies then see the same item events, and
:class:`models.evaluation.drift.DriftObserver` counts, per switch, the events
until half of the top-k is in the new category (the drift protocol's measure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from models.cold_start import cold_start_vectors, typical_norm
from models.content_projection import ContentProjection
from models.evaluation.catalog import Catalog
from models.evaluation.config import EvalConfig
from models.evaluation.drift import CategoryOf, DriftObserver
from models.evaluation.events import DriftEvent
from models.evaluation.histories import Histories
from models.evaluation.report import DriftScores
from models.evaluation.stream_variants import Interest
from models.signals import add_signals
from models.text_encoder import TextEncoder, place_texts

WITHOUT, WITH = "short_term", "short_term+search"


@dataclass(frozen=True)
class SearchDriftRun:
    scores: list[DriftScores]  # per variant: switches, adapted, mean and median events
    share_curves: dict[str, list[float]]  # new category's top-k share by events since a switch
    searches: int


class _Searches:
    """Queries of a category, placed by the latest projection."""

    def __init__(self, titles: Mapping[str, str], category_of: CategoryOf, seed: int) -> None:
        self.titles = titles
        self.by_category: dict[int, list[str]] = {}
        for item, title in titles.items():
            self.by_category.setdefault(category_of(item), []).append(title)
        self.rng = np.random.default_rng(seed)
        self.projection: ContentProjection | None = None

    def refit(self, variant: Interest) -> None:
        known = {i: variant.items.vector(i) for i in variant.items.ids if i in self.titles}
        catalog = {i: {"title": t} for i, t in self.titles.items()}
        self.projection, _ = cold_start_vectors(catalog, known)

    def query(self, category: int) -> str | None:
        titles = self.by_category.get(category)
        return None if not titles else str(self.rng.choice(titles))


def run_search_drift(
    events: Sequence[DriftEvent],
    titles: Mapping[str, str],
    category_of: CategoryOf,
    config: EvalConfig,
    search_weight: float = 2.0,
    warmup: int = 5000,
    refit_every: int = 10_000,
    encoder: TextEncoder | None = None,
) -> SearchDriftRun:
    """Both copies over ``events``; a search before each switch after ``warmup`` events."""
    without, searching = Interest(WITHOUT, config, None), Interest(WITH, config, None)
    variants = [without, searching]
    histories = Histories(config.interest.recent_items, False)
    catalog = Catalog()  # rows as both item tables number them (items in order of arrival)
    observer = DriftObserver(events, category_of, catalog, config.k)
    searches = _Searches(titles, category_of, config.seed)
    weights, half_life = config.interest.event_weights, config.interest.half_life_s
    placed = 0
    for index, drift in enumerate(events):
        event = drift.event
        if index >= warmup and (index - warmup) % refit_every == 0:
            searches.refit(without)
        query = searches.query(drift.category) if drift.switched and index >= warmup else None
        if query is not None and searches.projection is not None:
            length = typical_norm(searching.items.matrix)
            vector = place_texts([query], searches.projection, encoder, length)
            user = searching.user(event.user_id)
            moved = add_signals(
                user.short_term, vector, np.array([search_weight]), np.array([event.ts]), half_life
            )
            searching.users[event.user_id] = replace(user, short_term=moved)
            placed += 1
        weight = weights[event.event_type]
        for variant in variants:
            variant.learn(event, 0, weight, index)
        row = catalog.add(event.item_id)
        histories.record(event.user_id, row, event.item_id, weight)
        if index >= warmup:  # switches before it have no search in either copy
            observer.after_learn(index, variants, len(catalog), histories.excluded(event.user_id))
    names = [WITHOUT, WITH]
    return SearchDriftRun(observer.results(names), observer.share_curves(names), placed)
