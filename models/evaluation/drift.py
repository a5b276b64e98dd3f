"""How fast each variant follows a known interest switch (synthetic drifting users).

After a user's interest switches (ground truth from the generator), count the
user's events, the switching one included, until at least half of the user's
top-k (as recommended right after applying that event, with the worker's
exclusions) is from the new category. A switch that is followed by another
switch, or by the end of the stream, before a variant gets there counts as
not adapted for that variant; mean and median are over adapted switches.

The curve behind those counts is kept too: for the first ``CURVE_EVENTS``
events after a switch, each variant's mean share of the new category in its
top-k, over the switches still open at that many events.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.evaluation.catalog import Catalog
from models.evaluation.config import EvalConfig
from models.evaluation.events import DriftEvent
from models.evaluation.prequential import PrequentialRun, ProgressFn, RefreshFn, run_prequential
from models.evaluation.ranking import top_rows
from models.evaluation.report import DriftScores
from models.evaluation.stream_variants import StreamVariant

CategoryOf = Callable[[str], int]
CURVE_EVENTS = 20  # events after a switch that the share curve follows


@dataclass
class _Watch:
    category: int
    events: int = 0
    adapted: dict[str, int] = field(default_factory=dict)


class DriftObserver:
    """Follows every open switch; one instance per run."""

    def __init__(
        self, events: Sequence[DriftEvent], category_of: CategoryOf, catalog: Catalog, k: int
    ) -> None:
        self.events = events
        self.category_of = category_of
        self.catalog = catalog
        self.k = k
        self.open: dict[str, _Watch] = {}
        self.closed: list[_Watch] = []
        self._categories: list[int] = []
        self.share_sums: dict[str, np.ndarray] = {}
        self.share_counts = np.zeros(CURVE_EVENTS, np.int64)

    def after_learn(
        self, index: int, variants: Sequence[StreamVariant], n_rows: int, exclude: Collection[int]
    ) -> None:
        drift = self.events[index]
        user = drift.event.user_id
        if drift.switched:
            self._close(user)
            self.open[user] = _Watch(drift.category)
        watch = self.open.get(user)
        if watch is None:
            return
        watch.events += 1
        categories = self._row_categories(n_rows)
        on_curve = watch.events <= CURVE_EVENTS
        if on_curve:
            self.share_counts[watch.events - 1] += 1
        for variant in variants:
            if variant.name in watch.adapted and not on_curve:
                continue
            scores = variant.scores(user, n_rows)
            top = top_rows(scores, self.k, exclude) if scores is not None else np.zeros(0, np.intp)
            hits = int(np.count_nonzero(categories[top] == watch.category))
            if on_curve:
                sums = self.share_sums.setdefault(variant.name, np.zeros(CURVE_EVENTS))
                sums[watch.events - 1] += hits / self.k
            if variant.name not in watch.adapted and 2 * hits >= self.k:
                watch.adapted[variant.name] = watch.events
        if len(watch.adapted) == len(variants) and not on_curve:
            self._close(user)

    def share_curves(self, names: Sequence[str]) -> dict[str, list[float]]:
        """Mean top-k share of the new category by events since a switch (1, 2, ...),
        up to the last count that some switch reached."""
        reached = int(np.count_nonzero(self.share_counts))
        counts = np.maximum(self.share_counts[:reached], 1)
        zeros = np.zeros(CURVE_EVENTS)
        return {
            name: (self.share_sums.get(name, zeros)[:reached] / counts).tolist() for name in names
        }

    def results(self, names: Sequence[str]) -> list[DriftScores]:
        for user in list(self.open):
            self._close(user)
        out = []
        for name in names:
            needed = np.array([w.adapted[name] for w in self.closed if name in w.adapted])
            mean = float(needed.mean()) if needed.size else None
            median = float(np.median(needed)) if needed.size else None
            out.append(DriftScores(name, len(self.closed), int(needed.size), mean, median))
        return out

    def _close(self, user: str) -> None:
        watch = self.open.pop(user, None)
        if watch is not None:
            self.closed.append(watch)

    def _row_categories(self, n_rows: int) -> np.ndarray:
        ids = self.catalog.ids
        self._categories += [self.category_of(i) for i in ids[len(self._categories) : n_rows]]
        return np.asarray(self._categories[:n_rows], dtype=np.int64)


@dataclass(frozen=True)
class DriftRun:
    prequential: PrequentialRun
    drift: list[DriftScores]
    share_curves: dict[str, list[float]] = field(default_factory=dict)
    share_counts: list[int] = field(default_factory=list)


def run_drift(
    events: Sequence[DriftEvent],
    category_of: CategoryOf,
    config: EvalConfig,
    progress: ProgressFn | None = None,
    on_refresh: RefreshFn | None = None,
) -> DriftRun:
    """Prequential replay of the synthetic stream, plus the adaptation count per switch."""
    observer: DriftObserver | None = None

    def make(catalog: Catalog) -> DriftObserver:
        nonlocal observer
        observer = DriftObserver(events, category_of, catalog, config.k)
        return observer

    run = run_prequential(
        [e.event for e in events], config, progress, on_refresh, observer_factory=make
    )
    assert observer is not None
    curves = observer.share_curves(run.variants)
    counts = observer.share_counts[: len(next(iter(curves.values()), []))].tolist()
    return DriftRun(run, observer.results(run.variants), curves, counts)
