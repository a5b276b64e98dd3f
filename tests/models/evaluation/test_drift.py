"""The drift metric: events until half of the top-k is from the user's new category."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from models.evaluation import Catalog, DriftEvent, EvalConfig, StreamEvent, run_drift
from models.evaluation.drift import DriftObserver
from models.interest_model import InterestConfig
from models.long_term import TrainConfig
from models.long_term.fit import LongTermConfig, LongTermRefresh
from streams.devtools.synthetic import DriftConfig, DriftingUsers
from streams.devtools.synthetic import category_of as synthetic_category
from streams.settings import DEFAULT_EVENT_WEIGHTS


def category_of(item: str) -> int:
    return int(item.split("-")[0][1:])


class Follows:
    """A stub variant that ranks the new category first after ``lag`` of its events."""

    def __init__(self, name: str, lag: int | None, new_category: int = 1) -> None:
        self.name, self.lag, self.new = name, lag, new_category
        self.seen = 0
        self.catalog: Catalog | None = None

    def scores(self, user_id: str, n_rows: int) -> np.ndarray | None:
        assert self.catalog is not None
        cats = np.array([category_of(i) for i in self.catalog.ids[:n_rows]])
        favour = self.new if self.lag is not None and self.seen >= self.lag else 0
        scores: np.ndarray = (cats == favour).astype(float)
        return scores

    def learn(self, event: StreamEvent, row: int, weight: float, key: int) -> None:
        if category_of(event.item_id) == self.new:
            self.seen += 1

    def refreshed(self, refresh: LongTermRefresh) -> None:
        pass


def planted_switch() -> list[DriftEvent]:
    before = [DriftEvent(StreamEvent("u", f"c0-i{j}", "view", j), 0, False) for j in range(4)]
    after = [DriftEvent(StreamEvent("u", f"c1-i{j}", "view", 10 + j), 1, j == 0) for j in range(4)]
    return before + after


def test_planted_switch_counts_events_until_half_the_list_is_new():
    events = planted_switch()
    catalog = Catalog(f"c{c}-i{j}" for c in (0, 1) for j in range(4))
    variants: Sequence[Follows] = [Follows("fast", 1), Follows("slow", 3), Follows("never", None)]
    for v in variants:
        v.catalog = catalog
    observer = DriftObserver(events, category_of, catalog, k=4)
    for index, drift in enumerate(events):
        for v in variants:
            v.learn(drift.event, 0, 1.0, index)
        exclude: Collection[int] = ()
        observer.after_learn(index, variants, len(catalog), exclude)
    results = {r.name: r for r in observer.results([v.name for v in variants])}
    assert results["fast"].switches == 1
    assert results["fast"].adapted == 1 and results["fast"].median_events == 1.0
    assert results["slow"].adapted == 1 and results["slow"].mean_events == 3.0
    assert results["never"].adapted == 0 and results["never"].mean_events is None


def test_drift_runs_are_deterministic_and_count_every_switch():
    source = DriftingUsers(DriftConfig(users=10, items_per_category=10, switch_every=15, seed=3))
    events = [
        DriftEvent(
            StreamEvent(s.event.user_id, s.event.item_id, s.event.type, s.event.ts),
            s.category,
            s.switched,
        )
        for s in source.take(600)
    ]
    config = EvalConfig(
        long_term=LongTermConfig(dim=8, max_len=10),
        training=TrainConfig(epochs=1, batch_size=16, device="cpu"),
        interest=InterestConfig(half_life_s=30.0, event_weights=dict(DEFAULT_EVENT_WEIGHTS)),
        refresh_every=300,
    )
    first = run_drift(events, synthetic_category, config)
    second = run_drift(events, synthetic_category, config)
    assert first.drift == second.drift
    switches = sum(e.switched for e in events)
    assert all(d.switches == switches and 0 <= d.adapted <= switches for d in first.drift)
    popularity = next(d for d in first.drift if d.name == "popularity")
    assert popularity.adapted < switches  # one list for everyone cannot follow every user
