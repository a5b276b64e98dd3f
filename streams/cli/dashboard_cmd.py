"""``interests dashboard``: the read-only web page over Redis and the workers' /metrics."""

from __future__ import annotations

import re

import click

from streams.cli.errors import UsageError
from streams.cli.params import current_settings
from streams.dashboard.app import needs_token, serve
from streams.read_side import open_reader


@click.command()
@click.option("--host", help="Address to listen on (INTERESTS_DASHBOARD_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (INTERESTS_DASHBOARD_PORT).")
@click.option(
    "--category-pattern",
    default="",
    help="Regex whose first group is an item's category, for items without a catalogue "
    "category (charts only).",
)
def dashboard(host: str | None, port: int | None, category_pattern: str) -> int:
    """Serve the dashboard until Ctrl-C: throughput, freshness, dead letters, live
    quality, the model registry, workers, users and their interest evolution."""
    settings = current_settings()
    changes: dict[str, object] = {}
    if host:
        changes["dashboard_host"] = host
    if port:
        changes["dashboard_port"] = port
    if changes:
        settings = settings.replace(**changes)
    if needs_token(settings) and not settings.dashboard_token:
        raise UsageError(
            f"the dashboard listens on {settings.dashboard_host}, beyond loopback: "
            "set INTERESTS_DASHBOARD_TOKEN"
        )
    if category_pattern:
        try:
            re.compile(category_pattern)
        except re.error as exc:
            raise UsageError(f"--category-pattern is not a regex: {exc}") from exc
    serve(settings, open_reader(settings), category_pattern)
    return 0
