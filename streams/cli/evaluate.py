"""``interests evaluate``: offline quality of every recommender, with progress and plots.

Protocols (the math is in :mod:`models.evaluation`):

- ``prequential``: replay ``--data`` in order, score each event before any
  model learns it; the GRU is retrained every ``--refresh-every`` events.
- ``loo``: leave-one-out with full ranking (compare with SASRec/GRU4Rec papers).
- ``drift``: synthetic users whose interest switches at known times; how many
  events each variant needs to follow a switch.

Every default comes from the service's settings (``INTERESTS_*``): the
short-term and blend variants run with the worker's, the GRU trains as the
trainer does (:func:`streams.trainer.service.refresh_config`), so what is
measured is what the service runs. Flags override; a flag the chosen protocol
does not read is refused.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from streams.cli.errors import PROG, UsageError, invoke
from streams.cli.params import DROPOUT, FRACTION, POSITIVE_FLOAT, POSITIVE_INT, current_settings
from streams.devtools.datasets import FORMATS
from streams.settings import Settings

if TYPE_CHECKING:  # the math (and torch) loads only when the command runs
    from tqdm import tqdm

    from models.evaluation import EvalConfig, EvaluationReport, LongTermRefresh, StreamEvent
    from streams.devtools.datasets import Interaction

PROTOCOLS = ("prequential", "loo", "drift")
DEFAULT_DRIFT_EVENTS = 40_000

# The protocols that read each flag (from models.evaluation: only the stream
# protocols refresh and step the GRU, only loo early-stops, only drift makes
# users); a flag not listed is read by all three.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "data": ("prequential", "loo"),
    "fmt": ("prequential", "loo"),
    "refresh_every": ("prequential", "drift"),
    "long_term_mode": ("prequential", "drift"),
    "patience": ("loo",),
    "users": ("drift",),
}


@dataclass(frozen=True)
class EvaluateArgs:
    """The command's flags; ``None`` means "the service's setting"."""

    protocol: str = "prequential"
    data: Path | None = None
    fmt: str = "auto"
    refresh_every: int = 10_000
    exclude_seen: bool = False
    limit: int | None = None
    seed: int | None = None
    dim: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    dropout: float | None = None
    max_len: int | None = None
    loss: str | None = None
    schedule: str | None = None
    label_smoothing: float | None = None
    patience: int | None = None
    half_life: float | None = None
    blend_prior: float = 0.5
    hold_mix: bool = False
    long_term_mode: str = "event"
    users: int = 200
    out: Path | None = None
    plot: Path | None = None


DEFAULTS = EvaluateArgs()  # the flags' defaults, in one place


@click.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="A file of ../shared/data (prequential, loo).",
)
@click.option("--format", "fmt", type=click.Choice(["auto", *FORMATS]), default=DEFAULTS.fmt)
@click.option(
    "--protocol", type=click.Choice(PROTOCOLS), default=DEFAULTS.protocol, show_default=True
)
@click.option(
    "--refresh-every",
    type=POSITIVE_INT,
    default=DEFAULTS.refresh_every,
    show_default=True,
    help="Events between GRU refreshes (prequential, drift).",
)
@click.option("--exclude-seen", is_flag=True, help="Never rank a user's seen items.")
@click.option("--limit", type=POSITIVE_INT, default=None, help="First N events (loo: N users).")
@click.option("--seed", type=int, default=None, help="Default: INTERESTS_SEED.")
@click.option(
    "--dim",
    type=POSITIVE_INT,
    default=None,
    help="GRU and item vector size [INTERESTS_VECTOR_SIZE].",
)
@click.option(
    "--epochs",
    type=POSITIVE_INT,
    default=None,
    help="GRU epochs per training; under loo, a ceiling [INTERESTS_TRAINER_EPOCHS].",
)
@click.option(
    "--batch-size", type=POSITIVE_INT, default=None, help="[INTERESTS_TRAINER_BATCH_SIZE]"
)
@click.option(
    "--lr",
    type=POSITIVE_FLOAT,
    default=None,
    help="GRU learning rate [INTERESTS_TRAINER_LEARNING_RATE].",
)
@click.option("--dropout", type=DROPOUT, default=None, help="[INTERESTS_TRAINER_DROPOUT]")
@click.option(
    "--max-len",
    type=POSITIVE_INT,
    default=None,
    help="GRU history length [INTERESTS_TRAINER_MAX_LEN].",
)
@click.option(
    "--loss", type=click.Choice(["full", "sampled"]), default=None, help="[INTERESTS_TRAINER_LOSS]"
)
@click.option(
    "--schedule",
    type=click.Choice(["onecycle", "constant"]),
    default=None,
    help="GRU learning-rate schedule [INTERESTS_TRAINER_SCHEDULE].",
)
@click.option(
    "--label-smoothing", type=DROPOUT, default=None, help="[INTERESTS_TRAINER_LABEL_SMOOTHING]"
)
@click.option(
    "--patience",
    type=POSITIVE_INT,
    default=None,
    help="loo early stopping [INTERESTS_TRAINER_PATIENCE].",
)
@click.option(
    "--half-life",
    type=POSITIVE_FLOAT,
    default=None,
    help="Short-term half-life, s [INTERESTS_SHORT_TERM_HALF_LIFE_S].",
)
@click.option(
    "--blend-prior",
    type=FRACTION,
    default=DEFAULTS.blend_prior,
    show_default=True,
    help="Long-term weight.",
)
@click.option(
    "--hold-mix",
    is_flag=True,
    help="Keep the blend's long-term weight at --blend-prior (no online mix learning).",
)
@click.option(
    "--long-term-mode",
    type=click.Choice(["refresh", "event"]),
    default=DEFAULTS.long_term_mode,
    show_default=True,
    help="Long-term vectors stepped by the GRU on every event, as the worker does, "
    "or frozen as of the last refresh (prequential, drift).",
)
@click.option(
    "--users", type=POSITIVE_INT, default=DEFAULTS.users, show_default=True, help="Drift users."
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write JSON here.")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write a PNG here.")
@click.pass_context
def evaluate(ctx: click.Context, /, **flags: Any) -> int:
    """Measure recommendation quality offline."""
    args = EvaluateArgs(**flags)
    refuse_foreign_flags(ctx, args.protocol)
    return run_evaluate(args, current_settings())


def refuse_foreign_flags(ctx: click.Context, protocol: str) -> None:
    """A flag given on the command line that ``protocol`` does not read is an error,
    not a silent no-op."""
    for name, protocols in APPLIES_TO.items():
        if protocol not in protocols and ctx.get_parameter_source(name) not in (
            None,
            ParameterSource.DEFAULT,
        ):
            flag = next(p for p in ctx.command.params if p.name == name).opts[0]
            raise UsageError(
                f"{flag} does not apply to --protocol {protocol} "
                f"(only to {' and '.join(protocols)})",
                ctx,
            )


def build_config(args: EvaluateArgs, settings: Settings) -> EvalConfig:
    """The run's configuration: the service's settings, then the command's flags."""
    from models.evaluation import EvalConfig
    from streams.trainer.service import refresh_config
    from streams.worker.interest_updater import interest_config

    trainer = refresh_config(settings)
    long_term = replace(
        trainer.long_term_config(),
        dim=_given(args.dim, trainer.dim),
        dropout=_given(args.dropout, trainer.dropout),
        max_len=_given(args.max_len, trainer.max_len),
    )
    training = replace(
        trainer.train,
        epochs=_given(args.epochs, trainer.train.epochs),
        batch_size=_given(args.batch_size, trainer.train.batch_size),
        lr=_given(args.lr, trainer.train.lr),
        loss=_given(args.loss, trainer.train.loss),
        schedule=_given(args.schedule, trainer.train.schedule),
        label_smoothing=_given(args.label_smoothing, trainer.train.label_smoothing),
    )
    interest = interest_config(settings)
    interest = replace(interest, event_weights=dict(interest.event_weights))
    if args.half_life is not None:
        interest = replace(interest, half_life_s=args.half_life)
    config = EvalConfig(
        long_term=long_term,
        training=training,
        interest=interest,
        blend_prior=args.blend_prior,
        learn_mix=not args.hold_mix,
        refresh_every=args.refresh_every,
        exclude_seen=args.exclude_seen,
        patience=_given(args.patience, trainer.patience),
        min_steps=trainer.min_steps,
        long_term_mode=args.long_term_mode,  # type: ignore[arg-type]  # a click.Choice
    )
    return config.seeded(settings.seed if args.seed is None else args.seed)


def _given(flag: Any, setting: Any) -> Any:
    return setting if flag is None else flag


def run_evaluate(args: EvaluateArgs, settings: Settings) -> int:
    import orjson

    from streams.devtools.datasets import read_interactions

    config = build_config(args, settings)
    started = time.perf_counter()
    if args.protocol == "drift":
        report = _drift(args, config, settings)
    else:
        if args.data is None:
            raise UsageError(f"--data is required for --protocol {args.protocol}")
        interactions = read_interactions(args.data, args.fmt, seed=config.seed)
        events = stream_events(interactions, set(config.interest.event_weights))
        _set_threads(settings)
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
        from streams.cli.evaluate_plots import plot

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


def _dataset_name(args: EvaluateArgs) -> str:
    assert args.data is not None
    return args.data.name


def _prequential(
    events: list[StreamEvent], args: EvaluateArgs, config: EvalConfig
) -> EvaluationReport:
    from tqdm import tqdm

    from models.evaluation import prequential_report, run_prequential

    name = _dataset_name(args)
    with tqdm(total=len(events), unit="ev", desc=f"prequential {name}") as bar:
        run = run_prequential(events, config, bar.update, _refresh_note(bar))
    return prequential_report(run, config, name)


def _set_threads(settings: Settings) -> None:
    """torch's CPU threads, chosen and said once the input is known good (errors stay one line)."""
    from models.long_term.threads import apply_threads

    print(apply_threads(settings.torch_threads).describe(), file=sys.stderr)


def _drift(args: EvaluateArgs, config: EvalConfig, settings: Settings) -> EvaluationReport:
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
        raise UsageError(f"INTERESTS_EVENT_WEIGHTS lacks the synthetic types {sorted(unknown)}")
    _set_threads(settings)
    with tqdm(total=n, unit="ev", desc="drift synthetic") as bar:
        run = run_drift(events, category_of, config, bar.update, _refresh_note(bar))
    return drift_report(run, config)


def _loo(events: list[StreamEvent], args: EvaluateArgs, config: EvalConfig) -> EvaluationReport:
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
    return loo_report(run, config, _dataset_name(args))


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


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Run ``evaluate`` alone (``python -m streams.cli.evaluate ...``, benchmarks/quality.py)."""
    return invoke(evaluate, argv, settings, f"{PROG} evaluate")


if __name__ == "__main__":
    sys.exit(main())
