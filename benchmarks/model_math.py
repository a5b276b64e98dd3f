"""The worker's model math alone (no Kafka, no Redis): events/s per process.

Folds synthetic batches the way the worker does (group by user, fold, score
each user once on their last state with the worker's defaults: score-level
fusion (``INTERESTS_BLEND``) and explanations of ``INTERESTS_EXPLAIN_RECENT``
recent items; commit the shared steps, trending) and reports events per CPU
second of this process (``time.process_time``, one BLAS thread) spent in those
calls: building the events and grouping them by user (the worker's decoding,
in ``streams``) is not timed. Users start
as a refresh leaves them: each with a published long-term vector, so the
blend weight's step and the shift detector run as they do in a worker. The
target is 50,000 events/s on 500-event batches.

    PYTHONPATH=$PWD python benchmarks/model_math.py --batches 200 --users 2000 --items 400
"""

from __future__ import annotations

import os

# As the worker runs it (streams/worker/run.py): one BLAS thread. Before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time
from collections import defaultdict
from dataclasses import replace

import numpy as np

from models.fused_scoring import FusionSpace, LongTermItems
from models.gru_step import GRUStepper
from models.interest_model import EventInput, InterestConfig, InterestModel, UserInterest
from models.item_table import ItemTable
from models.trending import TrendingItems
from streams.settings import Settings

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


def random_unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    out: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def run(
    batches: int,
    batch_size: int,
    users: int,
    items: int,
    dim: int,
    gru: bool,
    fusion: bool = True,
    explain_recent: int = 10,
) -> float:
    rng = np.random.default_rng(7)
    table = ItemTable(dim, seed=7)
    for i in range(items):
        table.index_of(f"i{i}")
    config = InterestConfig(event_weights=WEIGHTS)
    stepper = random_stepper(dim, dim, 3) if gru else None
    model = InterestModel(table, config, stepper=stepper)
    if fusion:  # the version's GRU item vectors, as a worker loads them
        long_items = random_unit_rows(rng, items, dim)
        model.fusion = FusionSpace(LongTermItems(list(table.ids), long_items))
    trending = TrendingItems(3600.0)
    published = random_unit_rows(rng, users, dim)  # each user's long-term vector of the refresh
    state: dict[str, UserInterest] = {
        f"u{u}": replace(UserInterest.new(dim), long_term=published[u]) for u in range(users)
    }
    types = list(WEIGHTS)
    offset = 0
    elapsed = 0.0
    for _ in range(batches):
        user_ids = rng.integers(0, users, batch_size)
        item_ids = rng.integers(0, items, batch_size)
        kinds = rng.integers(0, len(types), batch_size)
        grouped: dict[str, list[EventInput]] = defaultdict(list)
        for u, i, k in zip(user_ids.tolist(), item_ids.tolist(), kinds.tolist(), strict=True):
            offset += 1
            grouped[f"u{u}"].append(EventInput(f"i{i}", types[k], float(offset), offset))
        ids = list(grouped)
        before = [state[u] for u in ids]
        # Timed: the models' calls; decoding and grouping events is the worker's (streams).
        started = time.process_time()
        table.begin_batch()
        folded = model.fold(before, [grouped[u] for u in ids])
        parts = model.interest_parts(folded.users)
        best, _ = model.recommend(folded.users, 20, parts)
        if explain_recent:
            model.explain(folded.users, best, parts, explain_recent)
        model.commit(folded, np.ones(len(ids), bool))
        shared = folded.shared
        trending.add_many(shared.event_rows, shared.event_ts, shared.event_weights)
        elapsed += time.process_time() - started
        state.update(zip(ids, folded.users, strict=True))
    return batches * batch_size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--dim", type=int, default=64)
    default_blend = Settings.from_env({}).blend  # what a worker runs by default
    parser.add_argument("--blend", choices=("fusion", "vector"), default=default_blend)
    parser.add_argument("--explain-recent", type=int, default=10)
    args = parser.parse_args()
    for gru in (False, True):
        rate = run(
            args.batches,
            args.batch_size,
            args.users,
            args.items,
            args.dim,
            gru,
            args.blend == "fusion",
            args.explain_recent,
        )
        print(
            f"model math, {args.batch_size}-event batches, {args.users} users, "
            f"{args.items} items, {args.blend}, GRU step {'on' if gru else 'off'}: "
            f"{rate:,.0f} events/CPU-s"
        )


if __name__ == "__main__":
    main()
