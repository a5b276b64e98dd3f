"""``interests produce`` and ``interests replay``: events into the interactions topic."""

from __future__ import annotations

import asyncio

import click

from streams.cli.params import POSITIVE_FLOAT, POSITIVE_INT, current_settings
from streams.devtools.datasets import FORMATS

FORMAT = click.Choice(["auto", *FORMATS])


@click.command()
@click.option("--count", type=POSITIVE_INT, default=None, help="Events to send (default: forever).")
@click.option("--rate", type=POSITIVE_FLOAT, default=100.0, show_default=True, help="Events/s.")
@click.option("--users", type=POSITIVE_INT, default=200, show_default=True, help="Synthetic users.")
def produce(count: int | None, rate: float, users: int) -> int:
    """Produce a synthetic stream of drifting users."""
    from streams.devtools.produce import produce_synthetic

    settings = current_settings()
    sent = asyncio.run(produce_synthetic(settings, count, rate, users))
    print(f"sent {sent} events to {settings.topic_interactions}")
    return 0


@click.command()
@click.argument("file")
@click.option("--format", "fmt", type=FORMAT, default="auto", show_default=True)
@click.option(
    "--rate", type=POSITIVE_FLOAT, default=None, help="Events/s (default: as fast as possible)."
)
@click.option("--limit", type=POSITIVE_INT, default=None, help="Stop after this many events.")
def replay(file: str, fmt: str, rate: float | None, limit: int | None) -> int:
    """Stream an interaction log (FILE: .inter, pairs or sequences) into the topic in time
    order."""
    from streams.devtools.replay import replay_file

    settings = current_settings()
    sent = asyncio.run(replay_file(settings, file, fmt, rate, limit))
    print(f"replayed {sent} events from {file} to {settings.topic_interactions}")
    return 0
