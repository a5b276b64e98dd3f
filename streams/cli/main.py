"""The ``interests`` command line: a root group over one module per command group.

Errors are one line (:mod:`streams.cli.errors`); ``python -m streams.cli.main``
is how tests and the embedded worker launcher run it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from streams.cli.dashboard_cmd import dashboard
from streams.cli.errors import invoke
from streams.cli.evaluate import evaluate
from streams.cli.local import bench, demo, up
from streams.cli.rerank import rerank
from streams.cli.service import trainer, worker
from streams.cli.settings_cmd import settings
from streams.cli.stream import produce, replay
from streams.cli.users import forget, user
from streams.settings import Settings


@click.group(no_args_is_help=False)
def cli() -> None:
    """Track what users are interested in, from Kafka events into Redis."""


for command in (
    worker,
    trainer,
    produce,
    replay,
    user,
    forget,
    demo,
    bench,
    up,
    evaluate,
    settings,
    dashboard,
):
    cli.add_command(command)
cli.add_command(rerank)


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """The console script; ``settings`` (default: the environment's) is for tests."""
    return invoke(cli, argv, settings)


if __name__ == "__main__":
    sys.exit(main())
