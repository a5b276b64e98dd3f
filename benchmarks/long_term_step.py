"""What the per-event GRU step costs the worker's model math, as a ratio measured in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/long_term_step.py [--events N] [--items N]

Applies the same synthetic events through :class:`InterestModel` without and
with a :class:`GRUStepper` (the worker with and without a published GRU step)
and prints both rates and their ratio; the best of ``--repeats`` runs each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.gru_step import GRUStepper
from models.interest_model import InterestConfig, InterestModel, UserInterest
from models.item_table import ItemTable
from models.long_term import GRUConfig, GRURecommender


def _rate(
    events: list[tuple[str, str]], n_items: int, dim: int, stepper: GRUStepper | None
) -> float:
    items = ItemTable(dim, seed=0)
    for i in range(n_items):
        items.index_of(f"i{i}")
    model = InterestModel(items, InterestConfig(), stepper=stepper)
    anchor = np.ones(dim, np.float32)
    users: dict[str, UserInterest] = {}
    started = time.perf_counter()
    for key, (user_id, item_id) in enumerate(events):
        user = users.get(user_id) or UserInterest(
            UserInterest.new(dim).short_term, long_term=anchor
        )
        users[user_id], _ = model.apply(user, item_id, "view", ts=float(key), sample_key=key)
    return len(events) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    events = [
        (f"u{rng.integers(args.users)}", f"i{rng.integers(args.items)}") for _ in range(args.events)
    ]
    gru = GRURecommender(GRUConfig(n_items=args.items, dim=args.dim)).eval()
    stepper = GRUStepper.from_model(gru)
    without = max(_rate(events, args.items, args.dim, None) for _ in range(args.repeats))
    with_step = max(_rate(events, args.items, args.dim, stepper) for _ in range(args.repeats))
    print(
        f"InterestModel.apply: {without:,.0f} events/s without the GRU step, "
        f"{with_step:,.0f} with it; ratio {with_step / without:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
