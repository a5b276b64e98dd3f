"""``interests user`` and ``interests forget``: one user's state, read or erased."""

from __future__ import annotations

import asyncio
import sys

import click
import orjson

from streams.cli.params import current_settings
from streams.read_side import open_reader
from streams.settings import Settings


@click.command()
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def user(user_id: str, as_json: bool) -> int:
    """Show what the service holds on a user."""

    settings = current_settings()
    reader = open_reader(settings)
    try:
        held = reader.get_user(user_id)
    finally:
        reader.close()
    if held is None:
        return _show_new_user(user_id, as_json, settings)
    if as_json:
        _print_json(held.to_json())
        return 0
    print(
        f"user {held.user_id}: {held.events_applied} events applied, "
        f"last at {held.last_event_ts}, model {held.model_version}"
    )
    print("recent: " + " ".join(held.recent_items[:10]))
    for rank, rec in enumerate(held.recommendations, 1):
        print(f"{rank:3d}. {rec['item_id']:<24} {rec['score']:.4f}{_why(rec.get('why'))}")
    return 0


def _why(why: object) -> str:
    """``  long 62% short 38%, like c1-i4``: the explanation the worker sent, if any."""
    if not isinstance(why, dict) or "long" not in why:
        return ""
    text = f"  long {why['long']:.0%} short {why.get('short', 1 - why['long']):.0%}"
    return text + (f", like {why['near']}" if why.get("near") else "")


def _show_new_user(user_id: str, as_json: bool, settings: Settings) -> int:
    """A user the service has never seen gets what new users are shown."""

    reader = open_reader(settings)
    try:
        trending = reader.trending()
    finally:
        reader.close()
    if as_json:
        _print_json(
            {
                "user_id": user_id,
                "events_applied": 0,
                "known": False,
                "recommendations": trending,
                "source": "trending",
            }
        )
    else:
        print(f"no state for user {user_id}; new users are shown trending items:")
        print("  " + (" ".join(trending) if trending else "(none yet)"))
    return 0


def _print_json(body: object) -> None:
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")


@click.command()
@click.argument("user_id")
def forget(user_id: str) -> int:
    """Delete everything the service holds on a user."""
    from streams.forget import forget_user

    deleted = asyncio.run(forget_user(current_settings(), user_id))
    print(
        f"forgot {user_id}: {'state deleted' if deleted else 'no state held'}, "
        f"recommendations tombstoned"
    )
    return 0
