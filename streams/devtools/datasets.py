"""Readers of the interaction logs in ``../shared/data``, in replay order.

``ml100k`` files carry real timestamps and are replayed in global time order.
``pairs`` and ``sequences`` files only order each user's items; users are
interleaved by a seeded random merge (each step picks a user with probability
proportional to the events they have left), and events get synthetic times one
second apart.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("ml100k", "pairs", "sequences")


class DatasetError(ValueError):
    """A data file does not match its format."""


@dataclass(frozen=True, slots=True)
class Interaction:
    user_id: str
    item_id: str
    ts: float
    rating: float | None = None


def detect_format(path: Path) -> str:
    if path.suffix == ".inter":
        return "ml100k"
    with path.open() as f:
        first = f.readline().split()
    return "pairs" if len(first) == 2 else "sequences"


def read_user_sequences(path: Path, fmt: str) -> dict[str, list[str]]:
    """Each user's items in their order (for pairs and sequences files)."""
    users: dict[str, list[str]] = {}
    with path.open() as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if fmt == "pairs":
                if len(parts) != 2:
                    raise DatasetError(
                        f"{path}:{number}: expected 'user item', got {line.strip()!r}"
                    )
                users.setdefault(parts[0], []).append(parts[1])
            else:
                if len(parts) < 2:
                    raise DatasetError(f"{path}:{number}: expected 'user item item ...'")
                users.setdefault(parts[0], []).extend(parts[1:])
    return users


def read_ml100k(path: Path) -> list[Interaction]:
    """All ratings, sorted by time (stable, so file order breaks ties)."""
    rows: list[Interaction] = []
    with path.open() as f:
        header = f.readline().rstrip("\n").split("\t")
        if [h.split(":")[0] for h in header[:4]] != ["user_id", "item_id", "rating", "timestamp"]:
            raise DatasetError(f"{path}: header {header!r} is not an ml-100k .inter header")
        for number, line in enumerate(f, 2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                raise DatasetError(f"{path}:{number}: expected 4 tab-separated columns")
            rows.append(Interaction(parts[0], parts[1], float(parts[3]), float(parts[2])))
    rows.sort(key=lambda r: r.ts)
    return rows


def seeded_merge(users: dict[str, list[str]], seed: int, start_ts: float) -> Iterator[Interaction]:
    """Interleave users' sequences, keeping each user's order."""
    rng = random.Random(seed)
    # One ticket per event, shuffled: the user drawn at step t emits their next item.
    tickets = [user for user, items in users.items() for _ in items]
    rng.shuffle(tickets)
    cursor = dict.fromkeys(users, 0)
    for step, user in enumerate(tickets):
        position = cursor[user]
        cursor[user] = position + 1
        yield Interaction(user, users[user][position], start_ts + step)


def read_interactions(
    path: Path, fmt: str = "auto", seed: int = 7, start_ts: float = 1_600_000_000.0
) -> list[Interaction]:
    """The file's interactions in replay order."""
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "ml100k":
        return read_ml100k(path)
    return list(seeded_merge(read_user_sequences(path, fmt), seed, start_ts))
