"""The one kind of error the CLI prints as a single line instead of a traceback."""

from __future__ import annotations


class UsageError(Exception):
    """A user-facing problem, printed as one line."""
