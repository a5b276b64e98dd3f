"""``interests rerank ID ITEM...``: a candidate list ordered for one user."""

from __future__ import annotations

import sys

import click
import orjson

from streams.cli.errors import UsageError
from streams.cli.params import current_settings
from streams.read_side import open_reader


@click.command()
@click.argument("user_id")
@click.argument("items", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--surface", help="Blend with the user's weight on this surface.")
def rerank(user_id: str, items: tuple[str, ...], as_json: bool, surface: str | None) -> int:
    """Order ITEMS for a user (items the model does not know stay last, in order)."""
    reader = open_reader(current_settings())
    try:
        reader.surface(surface)
        result = reader.rerank(user_id, list(items), surface)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        reader.close()
    if as_json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    who = "" if result["known_user"] else " (no state: input order)"
    print(f"user {user_id}, model {result['model_version']}, surface {result['surface']}{who}:")
    for rank, entry in enumerate(result["items"], 1):
        score = "unknown" if entry["score"] is None else f"{entry['score']:.4f}"
        because = f"  like {entry['because']}" if entry["because"] else ""
        was = entry["input_rank"] + 1
        print(f"{rank:3d}. {entry['item_id']:<24} {score:>8}  (was {was}){because}")
    return 0
