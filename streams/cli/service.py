"""``interests worker`` and ``interests trainer``: the two long-running services."""

from __future__ import annotations

import sys

import click

from streams.cli.errors import UsageError
from streams.cli.params import current_settings


@click.command()
def worker() -> int:
    """Run a stream worker from the INTERESTS_* settings."""
    from streams.security import security_summary
    from streams.worker.run import run_worker

    settings = current_settings()
    print(f"interests worker: {security_summary(settings)}", file=sys.stderr, flush=True)
    run_worker(settings)
    return 0


@click.command()
@click.option("--once", is_flag=True, help="One refresh, then exit.")
def trainer(once: bool) -> int:
    """Refresh the long-term model periodically."""
    from streams.security import security_summary
    from streams.trainer.service import TrainerError, run_trainer

    settings = current_settings()
    security_summary(settings)  # a bad security setting fails now, not after training
    try:
        return run_trainer(settings, once)
    except TrainerError as exc:
        raise UsageError(f"{exc}; the current version stays") from None
