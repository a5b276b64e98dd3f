"""Results of an evaluation run: dataclasses, a text table, and a JSON-ready dict."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.ranking_metrics import hit_rate_from_ranks, mrr_from_ranks, ndcg_from_ranks


@dataclass(frozen=True)
class VariantScores:
    """Mean ranking quality of one variant over ``evaluated`` targets."""

    name: str
    hr: float
    ndcg: float
    mrr: float
    evaluated: int
    coverage: float | None = None
    novelty: float | None = None


@dataclass(frozen=True)
class DriftScores:
    """Events a variant needed after a known interest switch (see ``drift``)."""

    name: str
    switches: int
    adapted: int
    mean_events: float | None
    median_events: float | None


@dataclass
class EvaluationReport:
    protocol: str
    dataset: str
    k: int
    variants: list[VariantScores]
    drift: list[DriftScores] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    """NDCG@k per variant over stream time, one value per full bucket of scored events."""
    curve_positions: list[int] = field(default_factory=list)
    """The stream position where each bucket of ``curves`` starts."""
    drift_curves: dict[str, list[float]] = field(default_factory=dict)
    """Drift only: mean top-k share of the new category at 1, 2, ... events after a switch."""
    drift_curve_counts: list[int] = field(default_factory=list)
    """How many switches each point of ``drift_curves`` averages."""

    def refresh_positions(self) -> list[int]:
        """Stream positions where the long-term model was refreshed and swapped in.

        >>> report = EvaluationReport("p", "d", 10, [], info={"refreshes": [{"at_event": 500}]})
        >>> report.refresh_positions()
        [500]
        """
        return [int(r["at_event"]) for r in self.info.get("refreshes", [])]

    def to_json(self) -> dict[str, Any]:
        """Plain types only, for ``orjson``/``json``."""
        plain: dict[str, Any] = _plain(dataclasses.asdict(self))
        return plain

    def table(self) -> str:
        """Fixed-width tables: ranking quality, then drift when measured."""
        k = self.k
        header = f"{'variant':<12} {'HR@' + str(k):>8} {'NDCG@' + str(k):>8} {'MRR@' + str(k):>8}"
        header += f" {'coverage':>9} {'novelty':>8} {'n':>8}"
        lines = [header, "-" * len(header)]
        for v in self.variants:
            lines.append(
                f"{v.name:<12} {v.hr:>8.4f} {v.ndcg:>8.4f} {v.mrr:>8.4f} "
                f"{_opt(v.coverage, 9)} {_opt(v.novelty, 8, 2)} {v.evaluated:>8d}"
            )
        if self.drift:
            head = f"{'variant':<12} {'switches':>8} {'adapted':>8} {'mean':>7} {'median':>7}"
            lines += ["", head, "-" * len(head)]
            for d in self.drift:
                lines.append(
                    f"{d.name:<12} {d.switches:>8d} {d.adapted:>8d} "
                    f"{_opt(d.mean_events, 7, 2)} {_opt(d.median_events, 7, 1)}"
                )
        return "\n".join(lines)


def scores_from_ranks(
    name: str,
    ranks: np.ndarray,
    k: int,
    coverage: float | None = None,
    novelty: float | None = None,
) -> VariantScores:
    """Means of HR, NDCG and MRR at ``k`` over 0-based ranks.

    >>> s = scores_from_ranks("x", np.array([0, 1, 20]), k=10)
    >>> round(s.hr, 4), round(s.ndcg, 4), round(s.mrr, 4), s.evaluated
    (0.6667, 0.5436, 0.5, 3)
    """
    if ranks.size == 0:
        return VariantScores(name, 0.0, 0.0, 0.0, 0, coverage, novelty)
    return VariantScores(
        name,
        float(hit_rate_from_ranks(ranks, k).mean()),
        float(ndcg_from_ranks(ranks, k).mean()),
        float(mrr_from_ranks(ranks, k).mean()),
        int(ranks.size),
        coverage,
        novelty,
    )


def windowed_ndcg(ranks: np.ndarray, k: int, window: int) -> list[float]:
    """NDCG@k averaged over consecutive full windows of ``window`` scored events.

    A last, partial window is left out: a mean of a few events is noise, and
    plotted it looked like every variant collapsing at the end of the stream.

    >>> windowed_ndcg(np.array([0, 0, 50, 50, 0]), k=10, window=2)
    [1.0, 0.0]
    """
    values = ndcg_from_ranks(ranks, k)
    full = values.size - values.size % window
    return [float(values[i : i + window].mean()) for i in range(0, full, window)]


def _opt(value: float | None, width: int, digits: int = 4) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
