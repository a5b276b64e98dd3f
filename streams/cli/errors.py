"""The one place where the CLI turns failures into one line and an exit status.

2: a bad argument or setting (click's parse errors, :class:`UsageError`,
:class:`~streams.settings.SettingsError`, a missing or malformed data file);
1: a service that is down or missing; 130: interrupted. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from streams.settings import Settings, SettingsError

PROG = "interests"


class UsageError(click.UsageError):
    """A user-facing problem, printed as one line (exit status 2)."""


def invoke(
    command: click.Command,
    argv: Sequence[str] | None,
    settings: Settings | None,
    name: str = PROG,
) -> int:
    """Parse ``argv`` and run ``command`` as ``name``; ``settings`` (default: read from
    the environment when a command first asks) is what the commands see."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with command.make_context(name, args, obj=settings) as ctx:
            return int(command.invoke(ctx) or 0)
    except click.exceptions.Exit as done:  # --help
        return done.exit_code
    except click.UsageError as exc:  # click's parse errors point at --help; ours stand alone
        parse_error = exc.ctx is not None and not isinstance(exc, UsageError)
        hint = f" (see {exc.ctx.command_path} --help)" if parse_error and exc.ctx else ""
        return _fail(f"{exc.format_message()}{hint}", exc.exit_code)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        return 130
    except Exception as exc:
        if _is_bad_input(exc):
            return _fail(str(exc), 2)
        if _is_unreachable(exc):
            return _fail(str(exc), 1)
        raise


def _fail(message: str, code: int) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"{PROG}: error: {first}", file=sys.stderr)
    return code


def _is_bad_input(exc: Exception) -> bool:
    from streams.devtools.datasets import DatasetError

    return isinstance(exc, SettingsError | DatasetError | FileNotFoundError)


def _is_unreachable(exc: Exception) -> bool:
    """A service that is down, or missing, is one line, not a traceback."""
    from aiokafka.errors import KafkaError
    from redis.exceptions import RedisError

    from streams.devtools.embedded import EmbeddedError

    return isinstance(exc, EmbeddedError | KafkaError | RedisError | ConnectionError | OSError)
