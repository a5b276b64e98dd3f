"""Offline evaluation of the recommenders: prequential replay, leave-one-out, drift.

Pure like the rest of ``models``: events come in as :class:`StreamEvent`
records, results go out as :class:`EvaluationReport`; ``streams`` reads the
files and writes the JSON and plots.
"""

from models.evaluation.catalog import Catalog
from models.evaluation.config import EvalConfig, MFConfig
from models.evaluation.drift import DriftRun, run_drift
from models.evaluation.events import DriftEvent, StreamEvent
from models.evaluation.long_term_source import LongTermMode
from models.evaluation.loo import LooRun, run_loo
from models.evaluation.prequential import PrequentialRun, run_prequential
from models.evaluation.report import DriftScores, EvaluationReport, VariantScores
from models.evaluation.splits import LeaveOneOut, leave_one_out
from models.evaluation.summaries import drift_report, loo_report, prequential_report
from models.long_term.fit import LongTermConfig, LongTermRefresh

__all__ = [
    "Catalog",
    "DriftEvent",
    "DriftRun",
    "DriftScores",
    "EvalConfig",
    "EvaluationReport",
    "LeaveOneOut",
    "LongTermConfig",
    "LongTermMode",
    "LongTermRefresh",
    "LooRun",
    "MFConfig",
    "PrequentialRun",
    "StreamEvent",
    "VariantScores",
    "drift_report",
    "leave_one_out",
    "loo_report",
    "prequential_report",
    "run_drift",
    "run_loo",
    "run_prequential",
]
