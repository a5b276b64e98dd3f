"""What the commands share: the number checks of their flags and the settings in force."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click

from streams.settings import Settings


class Number(click.ParamType):
    """A number that ``accept`` allows; a refusal names the flag and says what was wanted."""

    def __init__(self, kind: type[int] | type[float], wanted: str, accept: Callable[[Any], bool]):
        self.kind = kind
        self.name = kind.__name__
        self.wanted = wanted
        self.accept = accept

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not {self.wanted}", param, ctx)
        if not self.accept(number):
            self.fail(f"{value} is not {self.wanted}", param, ctx)
        return number


POSITIVE_INT = Number(int, "a positive integer", lambda v: v > 0)
POSITIVE_FLOAT = Number(float, "a positive number", lambda v: 0 < v < math.inf)
FRACTION = Number(float, "strictly between 0 and 1", lambda v: 0 < v < 1)
DROPOUT = Number(float, "in [0, 1)", lambda v: 0 <= v < 1)


def current_settings() -> Settings:
    """The settings of this invocation: given to the root context, else read from the
    environment the first time a command asks (after its arguments parsed)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings.from_env()
    return root.obj
