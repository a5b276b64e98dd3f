"""Prequential (test-then-train) replay: score each event before any model learns it.

For every event in order: (1) each variant ranks the whole catalogue seen so
far for the user, excluding what the worker excludes, and the rank of the
chosen item is recorded (an item never seen before is a miss, as is any
user the variant has nothing for); (2) the event is applied to every
variant. Every ``refresh_every`` events the long-term GRU is retrained on the
replayed past and handed to the variants, as the trainer service does. Only
events of positive weight are scored: a skip is not a choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from models.evaluation.catalog import Catalog
from models.evaluation.config import EvalConfig
from models.evaluation.events import StreamEvent
from models.evaluation.histories import Histories
from models.evaluation.long_term_source import LongTermSource
from models.evaluation.ranking import MISS, rank_of, top_rows
from models.evaluation.stream_variants import StreamVariant, build_variants
from models.long_term import GRURecommender
from models.long_term.fit import LongTermRefresh
from models.long_term.refresh import fit_as_trainer

ObserverFactory = Callable[[Catalog], "Observer"]
"""Makes the run's observer, given the catalogue the run grows."""

ProgressFn = Callable[[int], None]
"""Told how many more events were replayed."""

RefreshFn = Callable[[int, LongTermRefresh], None]
"""Told the stream position and the result of each long-term refresh."""


class Observer(Protocol):
    """Looks at the variants after each event is applied (the drift protocol does)."""

    def after_learn(
        self, index: int, variants: Sequence[StreamVariant], n_rows: int, exclude: Collection[int]
    ) -> None: ...


@dataclass(frozen=True)
class Refresh:
    at_event: int
    users: int
    items: int
    epochs: int
    seconds: float


@dataclass
class ListStats:
    """Coverage and novelty of one variant's top-k lists, accumulated as they are shown.

    Novelty is the mean self-information ``-log2 p(item)`` with ``p`` the item's
    share of the events replayed so far: how rare an item was when it was shown.

    >>> stats = ListStats()
    >>> stats.add(np.array([0, 1]), counts=np.array([2.0, 1.0, 1.0, 0.0]), total=4)
    >>> stats.coverage(n_items=4), stats.novelty()
    (0.5, 1.5)
    """

    shown: set[int] = field(default_factory=set)
    information: float = 0.0
    items: int = 0

    def add(self, rows: np.ndarray, counts: np.ndarray, total: int) -> None:
        if rows.size == 0:
            return
        self.shown.update(rows.tolist())
        seen = np.maximum(counts[rows], 1.0)
        self.information += float(-np.log2(seen / max(total, 1)).sum())
        self.items += int(rows.size)

    def coverage(self, n_items: int) -> float:
        return len(self.shown) / n_items if n_items else 0.0

    def novelty(self) -> float:
        return self.information / self.items if self.items else 0.0


@dataclass
class PrequentialRun:
    """Ranks of the chosen item per variant, one per scored event, in stream order."""

    variants: list[str]
    ranks: dict[str, np.ndarray]
    positions: np.ndarray
    n_events: int
    n_items: int
    n_users: int
    refreshes: list[Refresh] = field(default_factory=list)
    seconds: float = 0.0
    lists: dict[str, ListStats] = field(default_factory=dict)


class _Replay:
    def __init__(self, config: EvalConfig, observer_factory: ObserverFactory | None) -> None:
        self.config = config
        self.catalog = Catalog()
        self.histories = Histories(config.interest.recent_items, config.exclude_seen)
        self.source = LongTermSource(config.long_term_mode, self.catalog)
        self.variants = build_variants(config, self.catalog, self.source)
        self.ranks: dict[str, list[int]] = {v.name: [] for v in self.variants}
        self.lists = {v.name: ListStats() for v in self.variants}
        self.counts = np.zeros(1024, np.float64)
        self.total = 0
        self.positions: list[int] = []
        self.refreshes: list[Refresh] = []
        self.model: GRURecommender | None = None
        self.observer = None if observer_factory is None else observer_factory(self.catalog)

    def step(self, index: int, event: StreamEvent) -> None:
        weight = self.config.interest.event_weights[event.event_type]
        exclude = self.histories.excluded(event.user_id)
        if weight > 0:
            self._score(index, event, exclude)
        row = self.catalog.add(event.item_id)
        self._count(row)
        for variant in self.variants:  # before the history grows: learn with what was known
            variant.learn(event, row, weight, index)
        self.histories.record(event.user_id, row, event.item_id, weight)
        if self.observer is not None:
            exclude = self.histories.excluded(event.user_id)
            self.observer.after_learn(index, self.variants, len(self.catalog), exclude)

    def _count(self, row: int) -> None:
        if row >= self.counts.shape[0]:
            self.counts = np.pad(self.counts, (0, self.counts.shape[0]))
        self.counts[row] += 1
        self.total += 1

    def _score(self, index: int, event: StreamEvent, exclude: set[int]) -> None:
        target, n_rows = self.catalog.get_index(event.item_id), len(self.catalog)
        self.positions.append(index)
        for variant in self.variants:
            scores = variant.scores(event.user_id, n_rows) if n_rows else None
            rank = rank_of(scores, target, exclude) if scores is not None else MISS
            self.ranks[variant.name].append(rank)
            if scores is not None:
                shown = top_rows(scores, self.config.k, exclude)
                self.lists[variant.name].add(shown, self.counts, self.total)

    def refresh(self, index: int) -> LongTermRefresh:
        config = self.config
        result = fit_as_trainer(
            self.histories.sequences,
            self.catalog,
            self.model,
            config.refresh_config(),
            config.long_term,
        )
        self.model = result.model
        self.source.refreshed(result)
        for variant in self.variants:
            variant.refreshed(result)
        self.refreshes.append(
            Refresh(
                index,
                len(result.user_vectors),
                len(self.catalog),
                result.epochs_run,
                result.seconds,
            )
        )
        return result


def run_prequential(
    events: Sequence[StreamEvent],
    config: EvalConfig,
    progress: ProgressFn | None = None,
    on_refresh: RefreshFn | None = None,
    observer_factory: ObserverFactory | None = None,
) -> PrequentialRun:
    """Replay ``events`` test-then-train through every variant."""
    started = time.perf_counter()
    replay = _Replay(config, observer_factory)
    for index, event in enumerate(events):
        if index and index % config.refresh_every == 0:
            result = replay.refresh(index)
            if on_refresh is not None:
                on_refresh(index, result)
        replay.step(index, event)
        if progress is not None and (index + 1) % 256 == 0:
            progress(256)
    if progress is not None and len(events) % 256:
        progress(len(events) % 256)
    return PrequentialRun(
        [v.name for v in replay.variants],
        {name: np.asarray(r, dtype=np.int64) for name, r in replay.ranks.items()},
        np.asarray(replay.positions, dtype=np.int64),
        len(events),
        len(replay.catalog),
        len(replay.histories.seen),
        replay.refreshes,
        time.perf_counter() - started,
        replay.lists,
    )
