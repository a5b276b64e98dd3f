"""The PNG of ``interests evaluate --plot``: what to draw, then drawing it.

:func:`plot_spec` turns a report into panels of plain numbers (tested: no
partial bucket, refresh marks where the harness refreshed, the drift curve);
:func:`draw` only hands them to matplotlib. Every variant keeps one colour,
line style and marker in every panel, and the blend is drawn underneath the
others, so no curve hides another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.evaluation import EvaluationReport


@dataclass(frozen=True)
class Style:
    color: str
    linestyle: str
    marker: str
    linewidth: float = 1.6
    zorder: int = 3


# The blend is wide and pale and drawn first: short-term, often close to it,
# stays visible on top.
STYLES: dict[str, Style] = {
    "popularity": Style("tab:gray", ":", "s"),
    "river_mf": Style("tab:purple", "-.", "^"),
    "short_term": Style("tab:orange", "--", "o"),
    "long_term": Style("tab:blue", "-", "v"),
    "blend": Style("tab:green", "-", "D", linewidth=3.5, zorder=2),
    "fusion": Style("tab:red", "-", "*"),
}
FALLBACK = [Style(c, "-", "x") for c in ("tab:cyan", "tab:brown", "tab:pink", "tab:olive")]
MARKERS_PER_LINE = 12  # markers on a curve, spaced evenly: style without clutter
REFRESH_LABEL = "GRU refresh, swapped in"
ADAPTED_SHARE = 0.5  # the drift protocol's "adapted": half of the top-k in the new category


@dataclass(frozen=True)
class Series:
    name: str
    x: list[float]
    y: list[float]
    style: Style


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    vlines: list[float] = field(default_factory=list)
    vline_label: str = ""
    hline: float | None = None
    hline_label: str = ""
    bars: dict[str, float] = field(default_factory=dict)
    integer_x: bool = False


def style_of(name: str, index: int) -> Style:
    return STYLES.get(name, FALLBACK[index % len(FALLBACK)])


def plot_spec(report: EvaluationReport) -> list[Panel]:
    """The panels for ``report``: drift gets its adaptation curve first."""
    panels = []
    if report.drift_curves:
        panels.append(drift_panel(report))
    if report.curves:
        panels.append(stream_panel(report))
    if not panels:
        panels.append(
            Panel(
                f"{report.protocol}: {report.dataset}",
                "variant",
                f"NDCG@{report.k}",
                bars={v.name: v.ndcg for v in report.variants},
            )
        )
    return panels


def stream_panel(report: EvaluationReport) -> Panel:
    """NDCG@k per full bucket of scored events, refreshes marked."""
    panel = Panel(
        f"{report.protocol}: {report.dataset}, NDCG@{report.k} over the stream",
        "event (stream position; each point is a full bucket of scored events)",
        f"NDCG@{report.k}",
        vlines=[float(p) for p in report.refresh_positions()],
        vline_label=REFRESH_LABEL,
    )
    for index, (name, values) in enumerate(report.curves.items()):
        positions = report.curve_positions[: len(values)]
        panel.series.append(
            Series(
                name, [float(p) for p in positions], values[: len(positions)], style_of(name, index)
            )
        )
    return panel


def drift_panel(report: EvaluationReport) -> Panel:
    """What the drift protocol measures: the top-k share of the new interest by
    events since a switch."""
    counts = report.drift_curve_counts
    panel = Panel(
        f"drift: share of the new category in the top-{report.k} after a switch "
        f"({counts[0] if counts else 0} switches)",
        "events of the user since their interest switched (1 = the switching event)",
        f"share of top-{report.k} in the new category",
        hline=ADAPTED_SHARE,
        hline_label="adapted (the drift table counts events until here)",
        integer_x=True,
    )
    for index, (name, values) in enumerate(report.drift_curves.items()):
        x = [float(n) for n in range(1, len(values) + 1)]
        panel.series.append(Series(name, x, list(values), style_of(name, index)))
    return panel


def draw(panels: list[Panel], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 4.5 * len(panels)), squeeze=False)
    for panel, ax in zip(panels, axes[:, 0], strict=True):
        _draw_panel(panel, ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _draw_panel(panel: Panel, ax: object) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    if panel.bars:
        ax.bar(list(panel.bars), list(panel.bars.values()))
    for series in panel.series:
        s = series.style
        ax.plot(
            series.x,
            series.y,
            label=series.name,
            color=s.color,
            linestyle=s.linestyle,
            marker=s.marker,
            markevery=max(1, len(series.x) // MARKERS_PER_LINE),
            linewidth=s.linewidth,
            zorder=s.zorder,
            alpha=0.6 if s.linewidth > 2 else 1.0,
        )
    for i, x in enumerate(panel.vlines):
        ax.axvline(
            x,
            color="black",
            linewidth=0.8,
            linestyle=(0, (4, 3)),
            zorder=1,
            label=panel.vline_label if i == 0 else None,
        )
    if panel.hline is not None:
        ax.axhline(
            panel.hline,
            color="black",
            linewidth=0.8,
            linestyle=":",
            zorder=1,
            label=panel.hline_label,
        )
    ax.set_title(panel.title)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.set_ylim(bottom=0)
    if panel.integer_x:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if panel.series:
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)


def plot(report: EvaluationReport, path: Path) -> None:
    """Write ``report``'s PNG to ``path``."""
    draw(plot_spec(report), path)
