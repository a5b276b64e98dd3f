"""``interests worker`` and ``interests trainer``: the two long-running services."""

from __future__ import annotations

import click

from streams.cli.errors import UsageError
from streams.cli.params import current_settings


@click.command()
def worker() -> int:
    """Run a stream worker from the INTERESTS_* settings."""
    from streams.worker.run import run_worker

    run_worker(current_settings())
    return 0


@click.command()
@click.option("--once", is_flag=True, help="One refresh, then exit.")
def trainer(once: bool) -> int:
    """Refresh the long-term model periodically."""
    from streams.trainer.service import TrainerError, run_trainer

    try:
        return run_trainer(current_settings(), once)
    except TrainerError as exc:
        raise UsageError(f"{exc}; the current version stays") from None
