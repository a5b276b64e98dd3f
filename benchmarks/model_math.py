"""The worker's model math alone (no Kafka, no Redis): events/s per process.

Folds synthetic batches the way the worker does (group by user, fold, score
each user once on their last state, commit the shared steps, trending) and
reports events per second. The target is 50,000 events/s on 500-event batches.

    PYTHONPATH=$PWD python benchmarks/model_math.py --batches 200 --users 2000 --items 400
"""

from __future__ import annotations

import os

# As the worker runs it (streams/worker/run.py): one BLAS thread. Before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time
from collections import defaultdict

import numpy as np

from models.gru_step import GRUStepper
from models.interest_model import EventInput, InterestConfig, InterestModel, UserInterest
from models.item_table import ItemTable
from models.trending import TrendingItems

WEIGHTS = {"view": 1.0, "click": 2.0, "add_to_cart": 3.0, "purchase": 5.0, "skip": -1.0}


def random_stepper(dim: int, hidden: int, seed: int) -> GRUStepper:
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    return GRUStepper(
        [w(3 * hidden, dim)],
        [w(3 * hidden, hidden)],
        [w(3 * hidden)],
        [w(3 * hidden)],
        w(dim, hidden),
        w(dim),
    )


def run(batches: int, batch_size: int, users: int, items: int, dim: int, gru: bool) -> float:
    rng = np.random.default_rng(7)
    table = ItemTable(dim, seed=7)
    for i in range(items):
        table.index_of(f"i{i}")
    config = InterestConfig(event_weights=WEIGHTS)
    stepper = random_stepper(dim, dim, 3) if gru else None
    model = InterestModel(table, config, stepper=stepper)
    trending = TrendingItems(3600.0)
    state: dict[str, UserInterest] = {}
    types = list(WEIGHTS)
    offset = 0
    elapsed = 0.0
    for _ in range(batches):
        user_ids = rng.integers(0, users, batch_size)
        item_ids = rng.integers(0, items, batch_size)
        kinds = rng.integers(0, len(types), batch_size)
        started = time.perf_counter()
        grouped: dict[str, list[EventInput]] = defaultdict(list)
        for u, i, k in zip(user_ids.tolist(), item_ids.tolist(), kinds.tolist(), strict=True):
            offset += 1
            grouped[f"u{u}"].append(EventInput(f"i{i}", types[k], float(offset), offset))
        ids = list(grouped)
        before = [state.get(u) or UserInterest.new(dim) for u in ids]
        folded = model.fold(before, [grouped[u] for u in ids])
        model.recommend(folded.users, 20)
        model.commit(folded, np.ones(len(ids), bool))
        shared = folded.shared
        trending.add_many(shared.event_rows, shared.event_ts, shared.event_weights)
        elapsed += time.perf_counter() - started
        state.update(zip(ids, folded.users, strict=True))
    return batches * batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    for gru in (False, True):
        rate = run(args.batches, args.batch_size, args.users, args.items, args.dim, gru)
        print(
            f"model math, {args.batch_size}-event batches, {args.users} users, "
            f"{args.items} items, GRU step {'on' if gru else 'off'}: {rate:,.0f} events/s"
        )


if __name__ == "__main__":
    main()
