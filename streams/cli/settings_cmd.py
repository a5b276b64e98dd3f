"""``interests settings``: the settings in force, or the README's table of them."""

from __future__ import annotations

import click

from streams.cli.params import current_settings
from streams.settings import settings_table


@click.command()
@click.option("--markdown", is_flag=True, help="Print the documented table.")
def settings(markdown: bool) -> int:
    """Print the settings in force."""
    if markdown:
        print(settings_table())
    else:
        for name, value in current_settings().shown_env().items():
            print(f"{name}={value}")
    return 0
