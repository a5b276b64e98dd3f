"""New users with 3 follows and no interactions: the social start against trending (synthetic).

Existing users come from the drift generator (``streams.devtools.synthetic``;
``--users`` users, ``--events`` events, their category drifts). Their events
are replayed as the worker applies them (online item table, trending), and a
GRU refresh is fitted on their histories as the trainer does. New users get a
taste category and follow ``--follows`` existing users: each one, with
probability 1 − noise, of the same current category (ground-truth ties,
:mod:`models.evaluation.social_ties`). Each new user's cold list is scored
(NDCG@10, HR@10) against each of their first ``--future`` events, generated
from their taste like any user's (on-topic share and item popularity of the
generator). Starts compared:

* trending: what the worker shows a new user (time-decayed popularity);
* social, online: the mean of the followees' unit short-term vectors in the
  online item table (the worker before any refresh);
* social, long-term: the mean of the followees' GRU long-term vectors, in the
  refresh's item space (the worker after a refresh);
* category top-10 (oracle): the 10 most popular items of the user's true
  taste, an upper bound no model has.

Ranking goes through the worker's code: :func:`models.social.social_vector`,
:func:`models.social.with_social`, :func:`models.blend.blend_rows`, top-K.

    PYTHONPATH=. .venv/bin/python benchmarks/social_cold_start.py [--noise 0 0.25 0.5 1]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from models.blend import blend_rows
from models.evaluation.catalog import Catalog
from models.evaluation.social_ties import cold_list_scores, score_table, tie_followees
from models.explain import InterestParts
from models.interest_model import EventInput, InterestModel, UserInterest
from models.item_table import ItemTable
from models.long_term.fit import LongTermConfig, fit
from models.long_term.training import TrainConfig
from models.social import social_vector, with_social
from models.topk import top_k
from models.trending import TrendingItems
from models.user_interest import InterestConfig
from streams.devtools.synthetic import DriftConfig, DriftingUsers, item_id
from streams.settings import DEFAULT_EVENT_WEIGHTS

K = 10


Replayed = tuple[
    InterestModel, dict[str, UserInterest], TrendingItems, dict[str, list[str]], DriftingUsers
]


def replay(config: DriftConfig, n_events: int, dim: int) -> Replayed:
    """The existing users' events through the worker's math, in batches of 500."""
    weights = {t: w for t, w in DEFAULT_EVENT_WEIGHTS.items() if t != "search"}
    model = InterestModel(ItemTable(dim, config.seed), InterestConfig(event_weights=weights))
    trending = TrendingItems(1800.0)
    generator = DriftingUsers(config)
    users: dict[str, UserInterest] = {}
    histories: dict[str, list[str]] = defaultdict(list)
    events = [e.event for e in generator.take(n_events)]
    for start in range(0, n_events, 500):
        by_user: dict[str, list[EventInput]] = defaultdict(list)
        for n, e in enumerate(events[start : start + 500]):
            by_user[e.user_id].append(EventInput(e.item_id, e.type, e.ts, start + n))
            if weights[e.type] > 0:
                histories[e.user_id].append(e.item_id)
        ids = list(by_user)
        folded = model.fold(
            [users.get(u) or UserInterest.new(dim) for u in ids], list(by_user.values())
        )
        model.commit(folded, np.ones(len(ids), bool))
        users.update(zip(ids, folded.users, strict=True))
        shared = folded.shared
        trending.add_many(shared.event_rows, shared.event_ts, shared.event_weights)
    return model, users, trending, histories, generator


def social_lists(followee_rows: list[np.ndarray], items: np.ndarray) -> np.ndarray:
    """Top-K rows per new user from the mean of their followees' vectors (the worker's path)."""
    n, dim = len(followee_rows), items.shape[1]
    social = np.stack([social_vector(list(rows), dim) for rows in followee_rows])
    zeros = np.zeros((n, dim), np.float32)
    parts = with_social(InterestParts(zeros, zeros, np.zeros(n)), social, 0.3, np.full(n, 0.5))
    rows, _ = top_k(
        blend_rows(parts.long_term, parts.short_term, parts.weights), items, K, [[]] * n
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--new-users", type=int, default=2000)
    parser.add_argument("--follows", type=int, default=3)
    parser.add_argument("--future", type=int, default=10)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started, cpu = time.perf_counter(), time.process_time()
    config = DriftConfig(users=args.users, seed=args.seed)
    model, users, trending, histories, generator = replay(config, args.events, args.dim)
    table = model.items
    catalog = Catalog(table.ids)
    refresh = fit(
        histories,
        catalog,
        LongTermConfig(dim=args.dim, seed=args.seed),
        TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            device="cpu",
            seed=args.seed,
        ),
    )
    print(
        f"{args.users} users, {args.events} events, {len(table)} items; "
        f"GRU refresh: {refresh.epochs_run} epochs in {refresh.seconds:.1f} s"
    )
    ids = [f"u{u}" for u in range(args.users)]
    tastes = np.array(generator.interest[: args.users])
    rng = np.random.default_rng(args.seed)
    per = config.items_per_category
    popularity = np.array([1.0 / (r + 1) for r in range(per)])
    new_tastes = rng.integers(config.categories, size=args.new_users)
    futures: list[list[str]] = []
    for taste in new_tastes.tolist():
        cats = np.where(
            rng.random(args.future) < config.on_topic,
            taste,
            rng.integers(config.categories, size=args.future),
        )
        ranks = rng.choice(per, size=args.future, p=popularity / popularity.sum())
        futures.append([item_id(int(c), int(r)) for c, r in zip(cats, ranks, strict=True)])
    online_targets = [[r for r in map(table.get_index, f) if r is not None] for f in futures]
    lt_targets = [[r for r in map(catalog.get_index, f) if r is not None] for f in futures]
    trend = np.tile(trending.top(K), (args.new_users, 1))
    oracle = np.array(
        [[table.index_of(item_id(t, r)) for r in range(K)] for t in new_tastes.tolist()]
    )
    fixed = {
        "trending": cold_list_scores(trend, online_targets),
        "category top-10 (oracle)": cold_list_scores(oracle, online_targets),
    }
    print(
        f"{args.new_users} new users, {args.follows} follows each, "
        f"scored on their first {args.future} events"
    )
    for noise in args.noise:
        follows = [
            tie_followees(tastes, int(t), args.follows, noise, rng) for t in new_tastes.tolist()
        ]
        online = social_lists(
            [[users[ids[f]].short_term.vector for f in fs] for fs in follows], table.matrix
        )
        long_rows = [
            [refresh.user_vectors[ids[f]] for f in fs if ids[f] in refresh.user_vectors]
            for fs in follows
        ]
        long_term = social_lists(long_rows, refresh.item_vectors)
        scores = {
            **fixed,
            f"social, online (noise {noise:g})": cold_list_scores(online, online_targets),
            f"social, long-term (noise {noise:g})": cold_list_scores(long_term, lt_targets),
        }
        print(score_table(scores))
    print(f"wall {time.perf_counter() - started:.1f} s, CPU {time.process_time() - cpu:.1f} s")


if __name__ == "__main__":
    main()
