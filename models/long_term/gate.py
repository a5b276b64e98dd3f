"""The publication gate: which held-back items a refresh is judged on, and the bar it must clear.

Every user with 3+ items loses their last one to validation. A stable fifth
of those users decide when training stops; the others are the gate's test.
A first version must rank their held-back items strictly better than the
most-popular ranking (a tie says it learned nothing a count could not); a
later one must do at least as well as the version it would replace.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from models.long_term.gru import GRURecommender
from models.long_term.training import evaluate_next_item
from models.long_term.vocabulary import Histories, Vocabulary
from models.ranking_metrics import ndcg_from_ranks

Baseline = Literal["current", "popularity"]


def passes(
    candidate: float, baseline: float, against: Baseline, held_out_users: int, slack: float = 0.0
) -> bool:
    """Whether a candidate with NDCG ``candidate`` may be published over ``baseline``.

    ``slack`` is how far below its bar a candidate may land and still pass:
    on a gate of a few dozen users one held-back item moves NDCG by several
    points, and where a shadow decides on live events an operator may let it.

    >>> passes(0.2, 0.2, "current", 10), passes(0.2, 0.2, "popularity", 10)
    (True, False)
    >>> passes(0.15, 0.2, "popularity", 10, slack=0.1)
    True
    >>> passes(0.3, 0.2, "popularity", 0)  # nobody held back: nothing was checked
    False
    """
    if held_out_users <= 0:
        return False
    bar = baseline - slack
    return candidate > bar if against == "popularity" else candidate >= bar


def holdout(histories: Histories) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Users with 3+ items lose their last one to validation; the rest train whole.

    >>> holdout({"a": ["x", "y", "z"], "b": ["x", "y"]})
    ({'a': ['x', 'y'], 'b': ['x', 'y']}, {'a': 'z'})
    """
    train_part: dict[str, list[str]] = {}
    targets: dict[str, str] = {}
    for user, items in histories.items():
        if len(items) >= 3:
            train_part[user], targets[user] = list(items[:-1]), items[-1]
        else:
            train_part[user] = list(items)
    return train_part, targets


def split_users(users: list[str]) -> tuple[list[str], list[str]]:
    """(early-stopping users, gate users): a stable fifth / four fifths; all gate below 10.

    >>> split_users(["a", "b"])
    ([], ['a', 'b'])
    """
    if len(users) < 10:
        return [], users
    stop = [u for u in users if zlib.crc32(u.encode()) % 5 == 0]
    chosen = set(stop)
    return stop, [u for u in users if u not in chosen]


def model_ndcg(
    model: GRURecommender, vocab: Vocabulary, histories: list[list[str]], targets: list[str], k: int
) -> float:
    """NDCG@k over all held-out users (full ranking); a target the model does not know is a miss."""
    known = [i for i, t in enumerate(targets) if t in vocab.rows]
    if not known:
        return 0.0
    metrics = evaluate_next_item(
        model,
        [vocab.encode(histories[i]) for i in known],
        [vocab.rows[targets[i]] for i in known],
        k=k,
    )
    return metrics["ndcg"] * len(known) / len(targets)


def popularity_ndcg(train_part: Mapping[str, Sequence[str]], targets: list[str], k: int) -> float:
    """NDCG@k of one ranking for everybody: items by how often they were chosen.

    >>> round(popularity_ndcg({"u": ["a", "a", "b"]}, ["b", "a", "zz"], k=10), 4)
    0.5436
    """
    counts = Counter(item for items in train_part.values() for item in items)
    order = {item: rank for rank, (item, _) in enumerate(counts.most_common())}
    ranks = np.array([order.get(t, len(order) + k) for t in targets], dtype=np.int64)
    return float(ndcg_from_ranks(ranks, k).mean()) if len(ranks) else 0.0
