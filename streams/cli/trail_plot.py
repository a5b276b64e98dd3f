"""``interests user ID --plot FILE.png``: how a user's interest moved, from their trail.

matplotlib (the ``eval`` extra) is imported only here, only when plotting.
Top: the share of each category among the items recommended at each trail
point (stacked). Bottom: the blend's long-term weight and the similarity of
short- to long-term interest. Shifts are red dashed lines on both.
"""

from __future__ import annotations

from pathlib import Path

from streams.cli.errors import UsageError
from streams.dashboard.trail import TrailSeries


def draw(series: TrailSeries, user_id: str, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError("--plot needs matplotlib: pip install 'interest-evolution[eval]'") from exc
    t0 = series.ts[0]
    minutes = [(t - t0) / 60 for t in series.ts]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    if series.categories:
        top.stackplot(
            minutes,
            [series.shares[c] for c in series.categories],
            labels=series.categories,
            alpha=0.85,
        )
        top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="category")
    top.set_ylim(0, 1)
    top.set_ylabel("share of recommended items")
    top.set_title(f"user {user_id}: {len(series)} trail points, {len(series.shifts)} shifts")
    for values, label in (
        (series.mix_weight, "long-term weight (blend)"),
        (series.similarity, "short/long-term similarity"),
    ):
        pts = [(m, v) for m, v in zip(minutes, values, strict=True) if v is not None]
        if pts:
            bottom.plot([m for m, _ in pts], [v for _, v in pts], marker=".", label=label)
    bottom.set_ylim(-1.05, 1.05)
    bottom.set_xlabel(f"minutes of event time since {t0:.0f}")
    bottom.legend(loc="lower left", fontsize=8)
    for shift in series.shifts:
        for ax in (top, bottom):
            ax.axvline((shift.ts - t0) / 60, color="#cb181d", linestyle="--", linewidth=1.5)
        top.annotate(
            f"shift → {shift.to}",
            ((shift.ts - t0) / 60, 0.98),
            fontsize=8,
            color="#cb181d",
            rotation=90,
            va="top",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
