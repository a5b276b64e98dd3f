"""The README's Commands table names exactly the commands and flags the CLI has."""

from __future__ import annotations

import re

import click

from streams.cli.main import cli
from tests.support.paths import REPO_ROOT


def documented() -> dict[str, set[str]]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `interests (\w+)([^`]*)` \|", section, re.MULTILINE)
    return {name: set(re.findall(r"--[a-z][a-z-]*", usage)) for name, usage in rows}


def test_every_command_is_documented_and_every_documented_command_exists() -> None:
    assert set(documented()) == set(cli.commands)


def test_every_documented_flag_exists() -> None:
    for name, flags in documented().items():
        command = cli.commands[name]
        options = {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}
        assert flags <= options, (name, flags - options)
