"""``interests evaluate``: offline quality of every recommender, with progress and plots.

Protocols (the math is in :mod:`models.evaluation`):

- ``prequential``: replay ``--data`` in order, score each event before any
  model learns it; the GRU is retrained every ``--refresh-every`` events.
- ``loo``: leave-one-out with full ranking (compare with SASRec/GRU4Rec papers).
- ``drift``: synthetic users whose interest switches at known times; how many
  events each variant needs to follow a switch.

The short-term and blend variants run with the worker's settings
(``INTERESTS_*``), so what is measured is what the worker would do.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.cli.errors import UsageError
from streams.settings import Settings

if TYPE_CHECKING:  # the math (and torch) loads only when the command runs
    from tqdm import tqdm

    from models.evaluation import EvalConfig, EvaluationReport, LongTermRefresh, StreamEvent
    from streams.devtools.datasets import Interaction

PROTOCOLS = ("prequential", "loo", "drift")
# Per protocol: GRU epochs (a ceiling under early stopping for loo) and batch size.
DEFAULT_EPOCHS = {"prequential": 20, "loo": 40, "drift": 20}
DEFAULT_DRIFT_EVENTS = 40_000


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not strictly between 0 and 1")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``evaluate`` subcommand (its ``run`` default is :func:`cmd_evaluate`)."""
    p = subparsers.add_parser("evaluate", help="measure recommendation quality offline")
    p.add_argument("--data", type=Path, default=None, help="a file of ../shared/data")
    p.add_argument("--format", choices=["auto", "ml100k", "pairs", "sequences"], default="auto")
    p.add_argument("--protocol", choices=PROTOCOLS, default="prequential")
    p.add_argument(
        "--refresh-every", type=_positive_int, default=10_000, help="events between GRU refreshes"
    )
    p.add_argument("--exclude-seen", action="store_true", help="never rank a user's seen items")
    p.add_argument(
        "--limit", type=_positive_int, default=None, help="first N events (loo: first N users)"
    )
    p.add_argument("--seed", type=int, default=None, help="default: INTERESTS_SEED")
    p.add_argument("--dim", type=_positive_int, default=64, help="GRU and item vector size")
    p.add_argument("--epochs", type=_positive_int, default=None, help="GRU epochs per training")
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--lr", type=_positive_float, default=3e-3, help="GRU learning rate")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--max-len", type=_positive_int, default=50, help="GRU history length")
    p.add_argument("--loss", choices=["full", "sampled"], default="full")
    p.add_argument("--patience", type=_positive_int, default=3, help="loo early stopping")
    p.add_argument(
        "--half-life", type=_positive_float, default=None, help="default: the worker's setting"
    )
    p.add_argument("--blend-prior", type=_fraction, default=0.5, help="long-term weight")
    p.add_argument(
        "--hold-mix",
        action="store_true",
        help="keep the blend's long-term weight at --blend-prior (no online mix learning)",
    )
    p.add_argument(
        "--long-term-mode",
        choices=["refresh", "event"],
        default="event",
        help="long-term vectors stepped by the GRU on every event, as the worker does "
        "(default), or frozen as of the last refresh",
    )
    p.add_argument("--users", type=_positive_int, default=200, help="drift: synthetic users")
    p.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    p.add_argument("--plot", type=Path, default=None, help="write a PNG figure here")
    p.set_defaults(run=cmd_evaluate)


def build_config(args: argparse.Namespace, settings: Settings) -> EvalConfig:
    """The run's configuration: the worker's settings, then the command's flags."""
    from models.evaluation import EvalConfig, LongTermConfig
    from models.long_term import TrainConfig
    from streams.worker.interest_updater import interest_config

    seed = settings.seed if args.seed is None else args.seed
    interest = interest_config(settings)
    interest = replace(interest, event_weights=dict(interest.event_weights))
    if args.half_life is not None:
        interest = replace(interest, half_life_s=args.half_life)
    if not 0.0 <= args.dropout < 1.0:
        raise _usage(f"--dropout must be in [0, 1), not {args.dropout}")
    config = EvalConfig(
        long_term=LongTermConfig(dim=args.dim, dropout=args.dropout, max_len=args.max_len),
        training=TrainConfig(
            epochs=args.epochs or DEFAULT_EPOCHS[args.protocol],
            batch_size=args.batch_size,
            lr=args.lr,
            loss=args.loss,
        ),
        interest=interest,
        blend_prior=args.blend_prior,
        learn_mix=not args.hold_mix,
        refresh_every=args.refresh_every,
        exclude_seen=args.exclude_seen,
        patience=args.patience,
        long_term_mode=args.long_term_mode,
    )
    return config.seeded(seed)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from streams.devtools.datasets import read_interactions

    config = build_config(args, settings)
    started = time.perf_counter()
    if args.protocol == "drift":
        report = _drift(args, config)
    else:
        if args.data is None:
            raise _usage(f"--data is required for --protocol {args.protocol}")
        interactions = read_interactions(args.data, args.format, seed=config.seed)
        events = stream_events(interactions, set(config.interest.event_weights))
        if args.protocol == "loo":
            report = _loo(events, args, config)
        else:
            report = _prequential(events[: args.limit], args, config)
    report.info["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(f"{report.protocol} on {report.dataset}: {_summary(report.info)}")
    print(report.table())
    if args.out is not None:
        args.out.write_bytes(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2))
    if args.plot is not None:
        plot(report, args.plot)
    return 0


def stream_events(interactions: list[Interaction], types: set[str]) -> list[StreamEvent]:
    """Events as the worker would get them from ``interests replay``."""
    from models.evaluation import StreamEvent
    from streams.devtools.replay import event_type

    return [StreamEvent(x.user_id, x.item_id, event_type(x, types), x.ts) for x in interactions]


def first_users(events: list[StreamEvent], limit: int | None) -> list[StreamEvent]:
    """The events of the first ``limit`` users to appear (all of them without a limit)."""
    if limit is None:
        return events
    users: set[str] = set()
    kept = []
    for e in events:
        if e.user_id not in users and len(users) < limit:
            users.add(e.user_id)
        if e.user_id in users:
            kept.append(e)
    return kept


def _prequential(
    events: list[StreamEvent], args: argparse.Namespace, config: EvalConfig
) -> EvaluationReport:
    from tqdm import tqdm

    from models.evaluation import prequential_report, run_prequential

    with tqdm(total=len(events), unit="ev", desc=f"prequential {args.data.name}") as bar:
        run = run_prequential(events, config, bar.update, _refresh_note(bar))
    return prequential_report(run, config, args.data.name)


def _drift(args: argparse.Namespace, config: EvalConfig) -> EvaluationReport:
    from tqdm import tqdm

    from models.evaluation import DriftEvent, StreamEvent, drift_report, run_drift
    from streams.devtools.synthetic import DriftConfig, DriftingUsers, category_of

    source = DriftingUsers(DriftConfig(users=args.users, seed=config.seed))
    n = args.limit or DEFAULT_DRIFT_EVENTS
    events = [
        DriftEvent(
            StreamEvent(s.event.user_id, s.event.item_id, s.event.type, s.event.ts),
            s.category,
            s.switched,
        )
        for s in source.take(n)
    ]
    unknown = {e.event.event_type for e in events} - set(config.interest.event_weights)
    if unknown:
        raise _usage(f"INTERESTS_EVENT_WEIGHTS lacks the synthetic types {sorted(unknown)}")
    with tqdm(total=n, unit="ev", desc="drift synthetic") as bar:
        run = run_drift(events, category_of, config, bar.update, _refresh_note(bar))
    return drift_report(run, config)


def _loo(
    events: list[StreamEvent], args: argparse.Namespace, config: EvalConfig
) -> EvaluationReport:
    from tqdm import tqdm

    from models.evaluation import loo_report, run_loo
    from models.long_term import TrainProgress

    events = first_users(events, args.limit)
    with tqdm(total=config.training.epochs, unit="epoch", desc="loo GRU") as bar:

        def progress(p: TrainProgress) -> None:
            if p.step == p.steps_per_epoch:
                bar.update()
                bar.set_postfix(loss=f"{p.loss:.3f}")

        run = run_loo(events, config, progress, lambda stage: bar.write(f"loo: {stage}"))
    return loo_report(run, config, args.data.name)


def _refresh_note(bar: tqdm[Any]) -> Any:
    def note(at: int, refresh: LongTermRefresh) -> None:
        bar.write(
            f"refresh at event {at}: {len(refresh.user_vectors)} users, "
            f"{len(refresh.item_ids)} items, {refresh.epochs_run} epochs, {refresh.seconds:.1f}s"
        )

    return note


def _summary(info: dict[str, Any]) -> str:
    keys = ("events", "users", "items", "wall_seconds")
    return ", ".join(f"{k} {info[k]}" for k in keys if k in info)


def plot(report: EvaluationReport, path: Path) -> None:
    """NDCG@k over stream time per variant (prequential, drift), or bars (loo)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    if report.curves:
        for name, values in report.curves.items():
            ax.plot(report.curve_positions[: len(values)], values, label=name)
        ax.set_xlabel("event (stream position)")
        ax.legend()
    else:
        names = [v.name for v in report.variants]
        ax.bar(names, [v.ndcg for v in report.variants])
    ax.set_ylabel(f"NDCG@{report.k}")
    ax.set_title(f"{report.protocol}: {report.dataset}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _usage(message: str) -> Exception:
    return UsageError(message)


def main(argv: list[str] | None = None) -> int:
    """Run ``evaluate`` alone (``python -m streams.cli.evaluate ...``)."""
    parser = argparse.ArgumentParser(prog="interests")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["evaluate", *(sys.argv[1:] if argv is None else argv)])
    from streams.devtools.datasets import DatasetError

    try:
        return int(args.run(args, Settings.from_env()))
    except (UsageError, DatasetError, FileNotFoundError) as exc:
        print(f"interests: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
