"""A user's interest-evolution trail as series to draw: one place for the CLI's PNG
and the dashboard's SVG, so both show the same thing.

Categories come from the catalogue (``category`` of the item's entry) or, for
ids without one, from ``category_pattern`` (a regex whose first group is the
category, e.g. ``^(c\\d+)-`` for the synthetic ``c3-i17``); items with
neither count as "other".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OTHER = "other"
TOP_CATEGORIES = 6


@dataclass(frozen=True, slots=True)
class Shift:
    ts: float
    strength: float
    to: str


@dataclass(slots=True)
class TrailSeries:
    """Per point: time, events, long-term weight, short/long similarity, and the
    share of each top category among the items recommended at that point."""

    ts: list[float] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    mix_weight: list[float | None] = field(default_factory=list)
    similarity: list[float | None] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # most shown first
    shares: dict[str, list[float]] = field(default_factory=dict)  # category -> per point
    shifts: list[Shift] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def dominant(self) -> list[str]:
        """The category with the largest share at each point ("" when none)."""
        out = []
        for i in range(len(self.ts)):
            best = max(self.categories, key=lambda c: self.shares[c][i], default="")
            out.append(best if best and self.shares[best][i] > 0 else "")
        return out


def category_lookup(
    catalogue: Mapping[str, Mapping[str, Any]], pattern: str | None
) -> Callable[[str], str]:
    """Item id -> category: the catalogue's, else the pattern's first group, else other."""
    compiled = re.compile(pattern) if pattern else None

    def category_of(item_id: str) -> str:
        entry = catalogue.get(item_id)
        if entry and entry.get("category"):
            return str(entry["category"])
        if compiled and (match := compiled.search(item_id)):
            return match.group(1) if match.groups() else match.group(0)
        return OTHER

    return category_of


def trail_items(points: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every item a trail names (what a category lookup needs)."""
    return {str(i) for p in points for i in [*p.get("top", []), *p.get("chosen", [])]}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def trail_series(
    points: Sequence[Mapping[str, Any]], category_of: Callable[[str], str]
) -> TrailSeries:
    series = TrailSeries()
    counts: list[Counter[str]] = []
    for point in points:
        ts = _num(point.get("ts"))
        if ts is None:
            continue
        series.ts.append(ts)
        series.events.append(int(point.get("events", 0)))
        series.mix_weight.append(_num(point.get("mix_weight")))
        series.similarity.append(_num(point.get("similarity")))
        series.versions.append(str(point.get("version", "")))
        items = [str(i) for i in point.get("top", [])] or [str(i) for i in point.get("chosen", [])]
        counts.append(Counter(category_of(i) for i in items))
        shift = point.get("shift")
        if isinstance(shift, Mapping) and _num(shift.get("ts")) is not None:
            series.shifts.append(
                Shift(float(shift["ts"]), _num(shift.get("strength")) or 0.0, str(shift.get("to")))
            )
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    series.categories = [c for c, _ in total.most_common(TOP_CATEGORIES)]
    for category in series.categories:
        series.shares[category] = [c[category] / max(1, sum(c.values())) for c in counts]
    return series


def svg_chart(series: TrailSeries, width: int = 720, height: int = 260) -> str:
    """The trail as an inline SVG (no JS): category shares as stacked bands, the
    long-term weight and short/long similarity as lines, shifts as red marks."""
    if not series.ts:
        return '<p class="empty">no trail points yet</p>'
    pad_l, pad_r, pad_t, pad_b = 40, 170, 10, 30
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    t0, t1 = series.ts[0], series.ts[-1]
    span = (t1 - t0) or 1.0

    def x(ts: float) -> float:
        return pad_l + (ts - t0) / span * w

    def y(v: float) -> float:
        return pad_t + (1 - v) * h

    palette = ["#9ecae1", "#fdae6b", "#a1d99b", "#bcbddc", "#fdd0a2", "#c7e9c0"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trail" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" stroke="#ccc"/>',
    ]
    base = [0.0] * len(series.ts)
    for n, category in enumerate(series.categories):
        top = [b + s for b, s in zip(base, series.shares[category], strict=True)]
        upper = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(series.ts, top, strict=True))
        lower = " ".join(
            f"{x(t):.1f},{y(v):.1f}" for t, v in reversed(list(zip(series.ts, base, strict=True)))
        )
        colour = palette[n % len(palette)]
        parts.append(
            f'<polygon points="{upper} {lower}" fill="{colour}" opacity="0.8">'
            f"<title>{_esc(category)}</title></polygon>"
        )
        parts.append(
            f'<rect x="{width - pad_r + 8}" y="{pad_t + 16 * n}" width="10" height="10" '
            f'fill="{colour}"/><text x="{width - pad_r + 22}" y="{pad_t + 16 * n + 9}" '
            f'font-size="11">{_esc(category)}</text>'
        )
        base = top
    row = len(series.categories) + 1
    for values, colour, name in (
        (series.mix_weight, "#08519c", "long-term weight"),
        (series.similarity, "#252525", "short/long similarity"),
    ):
        pts = [(t, v) for t, v in zip(series.ts, values, strict=True) if v is not None]
        if pts:
            ly = pad_t + 16 * row
            parts.append(
                f'<line x1="{width - pad_r + 6}" x2="{width - pad_r + 20}" y1="{ly + 5}" '
                f'y2="{ly + 5}" stroke="{colour}" stroke-width="2"/>'
                f'<text x="{width - pad_r + 24}" y="{ly + 9}" font-size="11">{name}</text>'
            )
            row += 1
            path = " ".join(f"{x(t):.1f},{y(max(-1.0, min(1.0, v))):.1f}" for t, v in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2">'
                f"<title>{name}</title></polyline>"
            )
    for shift in series.shifts:
        parts.append(
            f'<line class="shift" x1="{x(shift.ts):.1f}" x2="{x(shift.ts):.1f}" y1="{pad_t}" '
            f'y2="{pad_t + h}" stroke="#cb181d" stroke-width="2" stroke-dasharray="4 2">'
            f"<title>shift to {_esc(shift.to)} (strength {shift.strength:.2f})</title></line>"
        )
    for v in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{pad_l - 4}" y="{y(v) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{v:g}</text>'
        )
    parts.append(
        f'<text x="{pad_l}" y="{height - 8}" font-size="11">{t1 - t0:.0f} s of event time, '
        f"{len(series)} points, {len(series.shifts)} shifts</text></svg>"
    )
    return "".join(parts)


def _esc(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
