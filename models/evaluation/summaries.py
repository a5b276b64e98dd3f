"""Turn the runs of each protocol into an :class:`EvaluationReport`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from models.evaluation.config import EvalConfig
from models.evaluation.drift import DriftRun
from models.evaluation.loo import LooRun
from models.evaluation.prequential import PrequentialRun
from models.evaluation.ranking import MISS
from models.evaluation.report import EvaluationReport, scores_from_ranks, windowed_ndcg

CURVE_POINTS = 100


def config_params(config: object) -> dict[str, Any]:
    """A nested plain dict of a (dataclass) configuration.

    >>> config_params(EvalConfig())["long_term"]["dim"]
    64
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = config_params(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


def prequential_report(
    run: PrequentialRun, config: EvalConfig, dataset: str, protocol: str = "prequential"
) -> EvaluationReport:
    window = max(1, run.positions.size // CURVE_POINTS)
    long_term = run.ranks.get("long_term")
    info: dict[str, Any] = {
        "events": run.n_events,
        "scored_events": int(run.positions.size),
        "users": run.n_users,
        "items": run.n_items,
        "seconds": round(run.seconds, 1),
        "refreshes": [dataclasses.asdict(r) for r in run.refreshes],
        "long_term_scored_share": (
            float(np.mean(long_term != MISS)) if long_term is not None and long_term.size else 0.0
        ),
    }
    return EvaluationReport(
        protocol,
        dataset,
        config.k,
        [
            scores_from_ranks(name, ranks, config.k, *_list_figures(run, name))
            for name, ranks in run.ranks.items()
        ],
        info=info,
        params=config_params(config),
        curves={name: windowed_ndcg(r, config.k, window) for name, r in run.ranks.items()},
        curve_positions=run.positions[::window].tolist(),
    )


def _list_figures(run: PrequentialRun, name: str) -> tuple[float | None, float | None]:
    stats = run.lists.get(name)
    if stats is None or not stats.items:
        return None, None
    return stats.coverage(run.n_items), stats.novelty()


def drift_report(run: DriftRun, config: EvalConfig) -> EvaluationReport:
    report = prequential_report(run.prequential, config, "synthetic drifting users", "drift")
    report.drift = run.drift
    report.drift_curves = run.share_curves
    report.drift_curve_counts = run.share_counts
    return report


def loo_report(run: LooRun, config: EvalConfig, dataset: str) -> EvaluationReport:
    info: dict[str, Any] = {
        "users": run.n_users,
        "items": run.n_items,
        "gru_epochs": run.gru_epochs,
        "gru_best_epoch": run.gru_best_epoch,
        "gru_validation_ndcg": round(run.gru_validation_ndcg, 5),
        "blend_prior": run.blend_prior,
        "blend_validation_ndcg": {str(p): round(v, 5) for p, v in run.blend_validation.items()},
        "exclude_seen": config.exclude_seen,
        "seconds": round(run.seconds, 1),
    }
    return EvaluationReport(
        "loo", dataset, config.k, run.scores, info=info, params=config_params(config)
    )
