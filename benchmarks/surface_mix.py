"""Per-surface mix weights against one global mix: synthetic users whose taste differs by surface.

See :mod:`models.evaluation.surfaces` for the generator and the replay (the
worker's fold and scoring). Prints per-surface NDCG@10 and HR@10 of three
variants: one mix weight learned for every surface, one learned per surface
(a prior per surface, an offset per user and surface), and the fixed starting
weight 0.5 for reference; and the learned priors as weights.

    PYTHONPATH=. .venv/bin/python benchmarks/surface_mix.py [--users 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

from models.evaluation.surfaces import make_world, replay
from models.user_interest import InterestConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--events", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--half-life", type=float, default=60.0, help="seconds; events 10 s apart")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    config = InterestConfig(half_life_s=args.half_life, learn_items=False)
    results: dict[str, object] = {"args": vars(args), "runs": []}
    for seed in args.seeds:
        world = make_world(users=args.users, events=args.events, seed=seed)
        started = time.process_time()
        run = {
            "seed": seed,
            "one global mix": replay(world, False, config, args.warmup),
            "per-surface mix": replay(world, True, config, args.warmup),
            "fixed 0.5": replay(world, True, config, args.warmup, learn_mix=False),
        }
        cpu = time.process_time() - started
        print(f"seed {seed} ({cpu:.1f} s CPU for three replays)")
        row: dict[str, object] = {"seed": seed}
        for name, scores in run.items():
            if name == "seed":
                continue
            summary = scores.summary()  # type: ignore[union-attr]
            row[name] = {"metrics": summary, "prior_weights": scores.weights}  # type: ignore[union-attr]
            cells = "  ".join(
                f"{s} {m['ndcg@10']:.4f}/{m['hr@10']:.4f}" for s, m in summary.items()
            )
            print(f"  {name:>16}: NDCG@10/HR@10  {cells}  priors {scores.weights}")  # type: ignore[union-attr]
        results["runs"].append(row)  # type: ignore[attr-defined]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
