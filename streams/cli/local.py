"""``interests demo``, ``bench`` and ``up``: everything on this machine, embedded."""

from __future__ import annotations

from pathlib import Path

import click

from streams.cli.errors import UsageError
from streams.cli.params import POSITIVE_FLOAT, POSITIVE_INT, current_settings

WORKDIR = click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help="Keep logs here (default: a temp dir, removed on exit).",
)


@click.command()
@click.option("--seconds", type=POSITIVE_FLOAT, default=45.0, show_default=True)
@click.option("--rate", type=POSITIVE_FLOAT, default=300.0, show_default=True, help="Events/s.")
@click.option("--users", type=POSITIVE_INT, default=100, show_default=True, help="Synthetic users.")
@click.option("--watch", type=POSITIVE_INT, default=3, show_default=True, help="Users shown.")
@click.option(
    "--train-after",
    type=POSITIVE_FLOAT,
    default=None,
    help="Seconds of streaming before the trainer refreshes the model [a third of --seconds].",
)
@WORKDIR
def demo(
    seconds: float,
    rate: float,
    users: int,
    watch: int,
    train_after: float | None,
    workdir: Path | None,
) -> int:
    """Run broker, redis, worker, producer and one trainer refresh locally."""
    from streams.devtools.demo import DemoPlan, run_demo

    if train_after is not None and train_after >= seconds:
        raise UsageError("--train-after must be less than --seconds")
    after = seconds / 3 if train_after is None else train_after
    return run_demo(current_settings(), DemoPlan(seconds, rate, users, watch, after), workdir)


@click.command()
@click.option("--events", type=POSITIVE_INT, default=20000, show_default=True)
@click.option("--users", type=POSITIVE_INT, default=2000, show_default=True)
@click.option(
    "--latency-rate",
    type=POSITIVE_FLOAT,
    default=500.0,
    show_default=True,
    help="Paced rate of the latency phase, events/s.",
)
@click.option("--out", default=None, help="Also write the figures as JSON here.")
@WORKDIR
def bench(
    events: int, users: int, latency_rate: float, out: str | None, workdir: Path | None
) -> int:
    """Measure worker throughput and latency against a bare faust agent."""
    from streams.devtools.bench import run_bench

    return run_bench(current_settings(), events, users, latency_rate, out, workdir)


@click.command()
@WORKDIR
def up(workdir: Path | None) -> int:
    """Start a local broker and redis-server until Ctrl-C; print the exports to use them."""
    from streams.devtools.up import run_up

    return run_up(current_settings(), workdir)
