"""CPU time of one worker batch's top-K and explanations: vector blend against fusion.

Random catalogue and users (dim 64, 50 recent items excluded each, top-20,
10 recent items compared for ``why``), the GRU's item vectors a perturbed copy
of the online ones; brute force (no index). One BLAS thread, as the worker runs.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD \\
        python benchmarks/fusion_scoring.py --items 1388 11924 50000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from models.fused_scoring import FusionSpace, LongTermItems
from models.interest_model import InterestConfig, InterestModel, UserInterest
from models.item_table import ItemTable
from models.short_term import UserVector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[1_388, 11_924, 50_000])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for n_items in args.items:
        items = ItemTable(64, 0)
        items.load({f"i{r}": rng.standard_normal(64).astype(np.float32) for r in range(n_items)})
        model = InterestModel(items, InterestConfig())
        users = [
            UserInterest(
                UserVector(rng.standard_normal(64).astype(np.float32), 0.0),
                tuple(f"i{r}" for r in rng.integers(0, n_items, 50)),
                long_term=rng.standard_normal(64).astype(np.float32),
            )
            for _ in range(args.users)
        ]
        noise = rng.standard_normal(items.matrix.shape).astype(np.float32) * 0.1
        trained = LongTermItems(items.ids, items.matrix + noise)
        line = []
        for blend in ("vector", "fusion"):
            model.fusion = FusionSpace(trained) if blend == "fusion" else None
            parts = model.interest_parts(users)
            model.recommend(users, 20, parts)  # warm: alignment, caches
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.repeats):
                best, _ = model.recommend(users, 20, parts)
                model.explain(users, best, parts, 10)
            cpu = (time.process_time() - cpu) / args.repeats * 1000
            wall = (time.perf_counter() - wall) / args.repeats * 1000
            line.append(f"{blend} {cpu:.0f} ms CPU ({wall:.0f} ms wall)")
        print(f"{n_items} items, {args.users} users: " + ", ".join(line))


if __name__ == "__main__":
    main()
