"""The ``interests`` command line; bad arguments get one line, not a traceback."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import orjson

from streams.cli.errors import UsageError
from streams.settings import Settings, SettingsError, settings_table

Command = Callable[[argparse.Namespace, Settings], int]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.worker.run import run_worker

    run_worker(settings)
    return 0


def cmd_trainer(args: argparse.Namespace, settings: Settings) -> int:
    from streams.trainer.service import TrainerError, run_trainer

    try:
        return run_trainer(settings, args.once)
    except TrainerError as exc:
        raise UsageError(f"{exc}; the current version stays") from None


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from streams.devtools.produce import produce_synthetic

    sent = asyncio.run(produce_synthetic(settings, args.count, args.rate, args.users))
    print(f"sent {sent} events to {settings.topic_interactions}")
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from streams.devtools.replay import replay_file

    sent = asyncio.run(replay_file(settings, args.file, args.format, args.rate, args.limit))
    print(f"replayed {sent} events from {args.file} to {settings.topic_interactions}")
    return 0


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    from state import InterestReader

    reader = InterestReader.from_url(settings.redis_url, settings.redis_prefix)
    try:
        user = reader.get_user(args.user_id)
    finally:
        reader.close()
    if user is None:
        return _show_new_user(args, settings)
    if args.json:
        sys.stdout.write(orjson.dumps(user.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(
        f"user {user.user_id}: {user.events_applied} events applied, "
        f"last at {user.last_event_ts}, model {user.model_version}"
    )
    print("recent: " + " ".join(user.recent_items[:10]))
    for rank, rec in enumerate(user.recommendations, 1):
        print(f"{rank:3d}. {rec['item_id']:<24} {rec['score']:.4f}")
    return 0


def _show_new_user(args: argparse.Namespace, settings: Settings) -> int:
    """A user the service has never seen gets what new users are shown."""
    from state import InterestReader

    reader = InterestReader.from_url(settings.redis_url, settings.redis_prefix)
    try:
        trending = reader.trending()
    finally:
        reader.close()
    if args.json:
        body = {
            "user_id": args.user_id,
            "events_applied": 0,
            "known": False,
            "recommendations": trending,
            "source": "trending",
        }
        sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(f"no state for user {args.user_id}; new users are shown trending items:")
        print("  " + (" ".join(trending) if trending else "(none yet)"))
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from streams.forget import forget_user

    deleted = asyncio.run(forget_user(settings, args.user_id))
    print(
        f"forgot {args.user_id}: {'state deleted' if deleted else 'no state held'}, "
        f"recommendations tombstoned"
    )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from streams.devtools.demo import run_demo

    return run_demo(settings, args.seconds, args.rate, args.users, args.watch, args.workdir)


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from streams.devtools.bench import run_bench

    return run_bench(settings, args.events, args.users, args.latency_rate, args.out, args.workdir)


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.markdown:
        print(settings_table())
    else:
        for name, value in settings.as_env().items():
            print(f"{name}={value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="interests", description=__doc__)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser
    )

    sub.add_parser("worker", help="run a stream worker").set_defaults(run=cmd_worker)

    p = sub.add_parser("trainer", help="refresh the long-term model periodically")
    p.add_argument("--once", action="store_true", help="one refresh, then exit")
    p.set_defaults(run=cmd_trainer)

    p = sub.add_parser("produce", help="produce a synthetic stream of drifting users")
    p.add_argument(
        "--count", type=_positive_int, default=None, help="events to send (default: forever)"
    )
    p.add_argument("--rate", type=_positive_float, default=100.0, help="events per second")
    p.add_argument("--users", type=_positive_int, default=200, help="synthetic users")
    p.set_defaults(run=cmd_produce)

    p = sub.add_parser("replay", help="stream an interaction log into the topic in time order")
    p.add_argument("file", help="a file of ../shared/data (.inter, pairs or sequences)")
    p.add_argument("--format", choices=["auto", "ml100k", "pairs", "sequences"], default="auto")
    p.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        help="events per second (default: as fast as possible)",
    )
    p.add_argument("--limit", type=_positive_int, default=None, help="stop after this many events")
    p.set_defaults(run=cmd_replay)

    p = sub.add_parser("user", help="show what the service holds on a user")
    p.add_argument("user_id")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_user)

    p = sub.add_parser("forget", help="delete everything the service holds on a user")
    p.add_argument("user_id")
    p.set_defaults(run=cmd_forget)

    p = sub.add_parser("demo", help="run broker, redis, worker and producer locally")
    p.add_argument("--seconds", type=_positive_float, default=30.0, help="how long to stream")
    p.add_argument("--rate", type=_positive_float, default=300.0, help="events per second")
    p.add_argument("--users", type=_positive_int, default=100, help="synthetic users")
    p.add_argument("--watch", type=_positive_int, default=3, help="users whose recs are shown")
    p.add_argument(
        "--workdir", type=Path, default=None, help="keep logs here (default: a temp dir)"
    )
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("bench", help="measure worker throughput and latency vs bare faust")
    p.add_argument("--events", type=_positive_int, default=20000)
    p.add_argument("--users", type=_positive_int, default=2000)
    p.add_argument(
        "--latency-rate",
        type=_positive_float,
        default=500.0,
        help="paced rate of the latency phase, events/s",
    )
    p.add_argument("--out", default=None, help="also write the figures as JSON here")
    p.add_argument(
        "--workdir", type=Path, default=None, help="keep logs here (default: a temp dir)"
    )
    p.set_defaults(run=cmd_bench)

    from streams.cli.evaluate import register as register_evaluate

    register_evaluate(sub)  # type: ignore[arg-type]  # a subclass of ArgumentParser

    p = sub.add_parser("settings", help="print the settings in force")
    p.add_argument("--markdown", action="store_true", help="print the documented table")
    p.set_defaults(run=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.run(args, settings))
    except (SettingsError, UsageError, FileNotFoundError) as exc:
        print(f"interests: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _is_unreachable(exc):
            print(f"interests: error: {exc}", file=sys.stderr)
            return 1
        raise


def _is_unreachable(exc: Exception) -> bool:
    """A service that is down, or missing, is one line, not a traceback."""
    from aiokafka.errors import KafkaError
    from redis.exceptions import RedisError

    from streams.devtools.datasets import DatasetError
    from streams.devtools.embedded import EmbeddedError

    kinds = (EmbeddedError, DatasetError, KafkaError, RedisError, ConnectionError, OSError)
    return isinstance(exc, kinds)


if __name__ == "__main__":
    sys.exit(main())
