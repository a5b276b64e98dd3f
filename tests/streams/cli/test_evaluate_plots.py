"""The data behind ``interests evaluate --plot`` (not its pixels)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from models.evaluation import (
    Catalog,
    DriftEvent,
    DriftRun,
    EvalConfig,
    PrequentialRun,
    StreamEvent,
    drift_report,
    prequential_report,
)
from models.evaluation.drift import DriftObserver
from models.evaluation.prequential import Refresh
from models.evaluation.ranking import MISS
from models.long_term.fit import LongTermRefresh
from streams.cli.evaluate_plots import REFRESH_LABEL, STYLES, draw, plot_spec

VARIANTS = ["popularity", "river_mf", "short_term", "long_term", "blend"]


def planted_run(n: int = 1_005, tail_misses: int = 5) -> PrequentialRun:
    """Every variant ranks the chosen item first, except the last few events."""
    ranks = np.zeros(n, np.int64)
    ranks[-tail_misses:] = MISS
    return PrequentialRun(
        variants=VARIANTS,
        ranks={name: ranks.copy() for name in VARIANTS},
        positions=np.arange(n, dtype=np.int64) * 2,  # every other event is scored
        n_events=2 * n,
        n_items=50,
        n_users=5,
        refreshes=[Refresh(700, 5, 50, 1, 0.1), Refresh(1400, 5, 50, 1, 0.1)],
    )


def test_stream_curves_have_no_partial_last_bucket():
    report = prequential_report(planted_run(), EvalConfig(), "planted")
    (panel,) = plot_spec(report)
    window = 1_005 // 100
    for series in panel.series:
        assert len(series.y) == 1_005 // window  # the 5 events left over are not a point
        assert len(series.x) == len(series.y)
        assert min(series.y) == 1.0  # the planted misses sit in the dropped bucket only
        assert series.x == [float(2 * i * window) for i in range(len(series.y))]


def test_refreshes_are_marked_where_the_harness_refreshed():
    report = prequential_report(planted_run(), EvalConfig(), "planted")
    (panel,) = plot_spec(report)
    assert panel.vlines == [700.0, 1400.0]
    assert panel.vline_label == REFRESH_LABEL


def test_every_variant_has_its_own_style():
    report = prequential_report(planted_run(), EvalConfig(), "planted")
    (panel,) = plot_spec(report)
    styles = [(s.style.color, s.style.linestyle, s.style.marker) for s in panel.series]
    assert [s.name for s in panel.series] == VARIANTS
    assert len(set(styles)) == len(VARIANTS)
    assert len({c for c, _, _ in styles}) == len(VARIANTS)
    # the blend lies underneath: short-term, often close to it, stays visible
    assert STYLES["blend"].zorder < STYLES["short_term"].zorder


class Follows:
    """A stub variant that ranks the new category first after ``lag`` of its events."""

    def __init__(self, name: str, lag: int | None, catalog: Catalog) -> None:
        self.name, self.lag, self.catalog = name, lag, catalog
        self.seen = 0

    def scores(self, user_id: str, n_rows: int) -> np.ndarray:
        cats = np.array([int(i[1]) for i in self.catalog.ids[:n_rows]])
        favour = 1 if self.lag is not None and self.seen >= self.lag else 0
        return (cats == favour).astype(float)

    def learn(self, event: StreamEvent) -> None:
        self.seen += event.item_id.startswith("c1")

    def refreshed(self, refresh: LongTermRefresh) -> None:
        pass


def planted_drift() -> tuple[list[DriftEvent], DriftObserver, Sequence[Follows]]:
    before = [DriftEvent(StreamEvent("u", f"c0-i{j}", "view", j), 0, False) for j in range(4)]
    after = [DriftEvent(StreamEvent("u", f"c1-i{j}", "view", 10 + j), 1, j == 0) for j in range(4)]
    events = before + after
    catalog = Catalog(f"c{c}-i{j}" for c in (0, 1) for j in range(4))
    variants = [
        Follows("fast", 1, catalog),
        Follows("slow", 3, catalog),
        Follows("never", None, catalog),
    ]
    observer = DriftObserver(events, lambda item: int(item[1]), catalog, k=4)
    exclude: Collection[int] = ()
    for index, drift in enumerate(events):
        for v in variants:
            v.learn(drift.event)
        observer.after_learn(index, variants, len(catalog), exclude)  # type: ignore[arg-type]
    return events, observer, variants


def test_drift_curve_is_the_new_category_share_by_events_since_the_switch():
    _, observer, variants = planted_drift()
    names = [v.name for v in variants]
    curves = observer.share_curves(names)
    assert curves == {
        "fast": [1.0, 1.0, 1.0, 1.0],
        "slow": [0.0, 0.0, 1.0, 1.0],  # ranks the new category from its 3rd new event on
        "never": [0.0, 0.0, 0.0, 0.0],
    }
    results = {r.name: r for r in observer.results(names)}
    assert results["slow"].mean_events == 3.0  # the adaptation count is unchanged


def test_drift_plot_shows_the_share_curve_first(tmp_path: Path):
    _, observer, variants = planted_drift()
    names = [v.name for v in variants]
    run = DriftRun(
        planted_run(),
        observer.results(names),
        observer.share_curves(names),
        observer.share_counts[:4].tolist(),
    )
    report = drift_report(run, EvalConfig())
    assert report.to_json()["drift_curves"]["slow"] == [0.0, 0.0, 1.0, 1.0]
    share, stream = plot_spec(report)
    by_name = {s.name: s for s in share.series}
    assert by_name["slow"].x == [1.0, 2.0, 3.0, 4.0]
    assert by_name["slow"].y == [0.0, 0.0, 1.0, 1.0]
    assert share.hline == 0.5 and "1 switches" in share.title
    assert stream.vlines == [700.0, 1400.0]
    png = tmp_path / "drift.png"
    draw([share, stream], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
