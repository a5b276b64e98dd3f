"""One long-term refresh on a data file, timed: what `interests trainer --once` does
minus Redis. Prints training throughput (positions/s), the refresh's wall time
and the validation NDCG@10 the publication gate saw.

    .venv/bin/python benchmarks/trainer_refresh.py ../shared/data/amazon-toys.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from models.long_term.refresh import RefreshResult, refresh
from models.long_term.threads import apply_threads
from streams.devtools.datasets import detect_format, read_interactions, read_user_sequences
from streams.settings import Settings
from streams.trainer.service import refresh_config


def histories(path: Path, length: int) -> dict[str, list[str]]:
    fmt = detect_format(path)
    if fmt == "ml100k":
        out: dict[str, list[str]] = {}
        for x in read_interactions(path, fmt):
            out.setdefault(x.user_id, []).append(x.item_id)
    else:
        out = read_user_sequences(path, fmt)
    return {user: items[-length:] for user, items in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--warm",
        action="store_true",
        help="first refresh without each user's latest item, then a refresh warm-started "
        "from it on everything (what a periodic refresh does); both are reported",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    threads = apply_threads(settings.torch_threads)
    sys.stderr.write(threads.describe() + "\n")
    data = histories(args.data, settings.history_length)
    config = refresh_config(settings)
    figures: dict[str, object] = {"data": args.data.name, "users": len(data)}
    current = None
    if args.warm:
        older = {user: items[:-1] for user, items in data.items() if len(items) > 1}
        cold = refresh(older, None, config)
        figures["previous"] = describe(cold, cold.report.seconds)
        current = (cold.model, cold.vocab)
    started = time.perf_counter()
    result = refresh(data, current, config)
    figures.update(describe(result, time.perf_counter() - started))
    figures["torch_threads"] = threads.threads
    figures["load_1min_at_start"] = round(threads.load, 2)
    sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")
    if args.out:
        args.out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


def describe(result: RefreshResult, wall: float) -> dict[str, object]:
    """What one refresh did and what the gate saw."""
    return {
        "items": len(result.vocab),
        "device": result.report.device,
        "epochs": result.report.epochs,
        "best_epoch": None if result.best_epoch is None else result.best_epoch + 1,
        "positions_trained": result.report.positions_trained,
        "positions_per_s": round(result.report.positions_per_s),
        "train_seconds": round(result.report.seconds, 1),
        "refresh_seconds": round(wall, 1),
        "gate_candidate_ndcg_at_10": round(result.candidate_ndcg, 4),
        "gate_baseline": result.baseline,
        "gate_baseline_ndcg_at_10": round(result.baseline_ndcg, 4),
        "held_out_users": result.held_out_users,
        "accepted": result.accepted,
    }


if __name__ == "__main__":
    sys.exit(main())
