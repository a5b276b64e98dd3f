"""``interests user`` and ``interests forget``: one user's state, read or erased."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import click
import orjson

from state import InterestReader
from streams.cli.errors import UsageError
from streams.cli.params import current_settings
from streams.dashboard.data import trail_of
from streams.dashboard.trail import TrailSeries
from streams.read_side import open_reader
from streams.settings import Settings


@click.command()
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw the user's interest-evolution trail to this PNG (needs matplotlib).",
)
@click.option(
    "--category-pattern",
    help="Regex whose first group is an item's category, for items the catalogue has "
    "no category for (e.g. '^(c\\d+)-').",
)
@click.option(
    "--surface",
    help="The list for this surface (INTERESTS_SURFACES): the latest list, re-ordered "
    "with the user's weight on it when it was made for another one.",
)
def user(
    user_id: str,
    as_json: bool,
    plot: Path | None,
    category_pattern: str | None,
    surface: str | None,
) -> int:
    """Show what the service holds on a user."""

    settings = current_settings()
    reader = open_reader(settings)
    try:
        reader.surface(surface)
        held = reader.get_user(user_id, surface)
        series = user_trail(reader, user_id, category_pattern) if plot else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        reader.close()
    if plot is not None and series is not None:
        if not series.ts:
            raise UsageError(f"no interest trail for user {user_id} (yet)")
        from streams.cli.trail_plot import draw

        draw(series, user_id, plot)
        print(f"wrote {plot}: {len(series)} trail points, {len(series.shifts)} shifts")
        return 0
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
    weights = ", ".join(f"{s} {w:.2f}" for s, w in held.mix_weights.items())
    print(f"long-term weight by surface: {weights}; list for surface {held.surface}")
    if held.followees:
        shown = held.to_json()
        print(
            f"follows {len(held.followees)}: "
            + " ".join(held.followees[:10])
            + f" (social vector {shown['social_age_s']}s old)"
        )
    for rank, rec in enumerate(held.recommendations, 1):
        print(f"{rank:3d}. {rec['item_id']:<24} {rec['score']:.4f}{_why(rec.get('why'))}")
    return 0


def _why(why: object) -> str:
    """``  long 62% short 38%, like c1-i4``: the explanation the worker sent, if any."""
    if not isinstance(why, dict) or "long" not in why:
        return ""
    text = f"  long {why['long']:.0%} short {why.get('short', 1 - why['long']):.0%}"
    return text + (f", like {why['near']}" if why.get("near") else "")


def user_trail(reader: InterestReader, user_id: str, category_pattern: str | None) -> TrailSeries:
    """The user's trail as series, categories from the catalogue or the pattern."""
    if category_pattern:
        try:
            re.compile(category_pattern)
        except re.error as exc:
            raise UsageError(f"--category-pattern is not a regex: {exc}") from exc
    return trail_of(reader, user_id, category_pattern)[1]


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
