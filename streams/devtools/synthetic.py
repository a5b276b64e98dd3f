"""Synthetic users whose interest category drifts at known times.

Shared by ``interests produce``, the demo, the benchmark and the tests, so
the ground truth (each user's category at each event) is always at hand.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from streams.worker.events import Event

DEFAULT_TYPE_MIX: Mapping[str, float] = {
    "view": 0.70,
    "click": 0.18,
    "add_to_cart": 0.06,
    "purchase": 0.04,
    "skip": 0.02,
}


@dataclass(frozen=True, slots=True)
class SyntheticEvent:
    """An event plus the category the user was interested in when acting."""

    event: Event
    category: int
    switched: bool


@dataclass(frozen=True, slots=True)
class DriftConfig:
    users: int = 200
    categories: int = 8
    items_per_category: int = 50
    switch_every: int = 40  # mean events per user between interest switches
    on_topic: float = 0.9  # share of events inside the current category
    start_ts: float = 1_700_000_000.0
    seconds_between_events: float = 5.0
    seed: int = 7


def item_id(category: int, rank: int) -> str:
    return f"c{category}-i{rank}"


def category_of(item: str) -> int:
    """Ground truth of a synthetic item id.

    >>> category_of(item_id(3, 17))
    3
    """
    return int(item.split("-", 1)[0][1:])


class DriftingUsers:
    """An endless, seeded stream of events from drifting users.

    >>> events = list(DriftingUsers(DriftConfig(users=3, seed=1)).take(5))
    >>> len(events), events[0].event.type in DEFAULT_TYPE_MIX
    (5, True)
    """

    def __init__(
        self, config: DriftConfig, type_mix: Mapping[str, float] = DEFAULT_TYPE_MIX
    ) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.types = list(type_mix)
        self.type_weights = list(type_mix.values())
        self.interest = [self.rng.randrange(config.categories) for _ in range(config.users)]
        self.clock = config.start_ts
        self.count = 0
        # Zipf-like popularity inside each category.
        self.rank_weights = [1.0 / (r + 1) for r in range(config.items_per_category)]

    def __iter__(self) -> Iterator[SyntheticEvent]:
        while True:
            yield self.next()

    def take(self, n: int) -> Iterator[SyntheticEvent]:
        for _ in range(n):
            yield self.next()

    def next(self) -> SyntheticEvent:
        cfg, rng = self.config, self.rng
        user = rng.randrange(cfg.users)
        switched = rng.random() < 1.0 / cfg.switch_every
        if switched:
            self.interest[user] = (
                self.interest[user] + rng.randrange(1, cfg.categories)
            ) % cfg.categories
        category = (
            self.interest[user] if rng.random() < cfg.on_topic else rng.randrange(cfg.categories)
        )
        rank = rng.choices(range(cfg.items_per_category), self.rank_weights)[0]
        self.clock += rng.expovariate(1.0 / cfg.seconds_between_events) / max(1, cfg.users / 50)
        self.count += 1
        event = Event(
            user_id=f"u{user}",
            item_id=item_id(category, rank),
            type=rng.choices(self.types, self.type_weights)[0],
            ts=round(self.clock, 3),
            event_id=f"e{cfg.seed}-{self.count}",
        )
        return SyntheticEvent(event, self.interest[user], switched)
