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

from models.long_term.refresh import refresh
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
    args = parser.parse_args()
    settings = Settings.from_env()
    threads = apply_threads(settings.torch_threads)
    sys.stderr.write(threads.describe() + "\n")
    data = histories(args.data, settings.history_length)
    started = time.perf_counter()
    result = refresh(data, None, refresh_config(settings))
    wall = time.perf_counter() - started
    figures = {
        "data": args.data.name,
        "users": len(data),
        "items": len(result.vocab),
        "device": result.report.device,
        "torch_threads": threads.threads,
        "load_1min_at_start": round(threads.load, 2),
        "epochs": result.report.epochs,
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
    sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")
    if args.out:
        args.out.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
