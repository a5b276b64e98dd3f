"""Recommendation quality on every data file: the runs behind the reported tables.

    INTERESTS_TORCH_THREADS=1 .venv/bin/python benchmarks/quality.py [RUN ...] [--outdir DIR]
    .venv/bin/python benchmarks/quality.py --commands   # each run's interests command

Each run is one ``interests evaluate`` invocation with the tuned flags below;
its table goes to stdout and its JSON and PNG to ``--outdir`` (default
``benchmarks/results``). With no RUN names, all of them run, one after the
other (about two and a half hours on two CPU cores; the
reported tables name each run's wall time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _amazon_loo(file: str, epochs: int, patience: int) -> list[str]:
    """Leave-one-out on an Amazon file, seen items excluded (as ICLRec), the trainer's GRU."""
    return [
        "--protocol", "loo", "--data", f"{DATA}/{file}", "--exclude-seen",
        "--dropout", "0.3", "--batch-size", "128",
        "--epochs", str(epochs), "--patience", str(patience), *_OLD_RECIPE,
    ]  # fmt: skip


# The GRU flags under which the reported stream runs were measured (commit c7756ea):
# ``interests evaluate``'s defaults have since become the trainer's (batch 128,
# dropout 0.3, 40 epochs), so the runs pin the old ones to stay reproducible.
# The runs predate the trainer's one-cycle recipe: they pin the constant rate of then.
_OLD_RECIPE = ["--lr", "3e-3", "--schedule", "constant", "--label-smoothing", "0"]
_STREAM_GRU = ["--epochs", "20", "--batch-size", "64", "--dropout", "0.2", *_OLD_RECIPE]
_LOO_GRU = [
    "--epochs", "40", "--batch-size", "64", "--dropout", "0.2", "--patience", "3", *_OLD_RECIPE,
]  # fmt: skip

# Flags found with the harness itself (see the report of the evaluation issue).
RUNS: dict[str, list[str]] = {
    "ml100k-prequential": [
        "--data", f"{DATA}/ml-100k.inter", "--half-life", "10", "--max-len", "200",
        "--refresh-every", "10000", *_STREAM_GRU,
    ],
    # Ablation: long-term vectors frozen between refreshes (a worker without the GRU step).
    "ml100k-prequential-frozen": [
        "--data", f"{DATA}/ml-100k.inter", "--half-life", "10", "--max-len", "200",
        "--refresh-every", "10000", "--long-term-mode", "refresh", *_STREAM_GRU,
    ],
    "ml100k-loo": [
        "--protocol", "loo", "--data", f"{DATA}/ml-100k.inter", "--exclude-seen",
        "--max-len", "200", "--half-life", "10",
        "--blend-prior", "0.9", "--hold-mix", *_LOO_GRU,
    ],
    "toys-loo": _amazon_loo("amazon-toys.txt", epochs=40, patience=4),
    "toys-prequential": [
        "--data", f"{DATA}/amazon-toys.txt", "--refresh-every", "25000",
        "--epochs", "10", "--half-life", "100000", "--batch-size", "64", "--dropout", "0.2",
        *_OLD_RECIPE,
    ],
    "games-loo": _amazon_loo("amazon-video-games.txt", epochs=12, patience=3),
    "games-prequential": [
        "--data", f"{DATA}/amazon-video-games.txt", "--limit", "100000",
        "--refresh-every", "25000", "--epochs", "10", "--half-life", "100000",
        "--batch-size", "64", "--dropout", "0.2", *_OLD_RECIPE,
    ],
    "drift": [
        "--protocol", "drift", "--limit", "40000", "--half-life", "300",
        "--refresh-every", "5000", *_STREAM_GRU,
    ],
}  # fmt: skip


def command(name: str) -> str:
    """The ``interests evaluate`` line of run ``name``, with paths relative to the repository."""
    flags = [flag.replace(f"{DATA}/", "../shared/data/") for flag in RUNS[name]]
    return "INTERESTS_TORCH_THREADS=1 interests evaluate " + " ".join(flags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", metavar="RUN", help=f"any of {', '.join(RUNS)}")
    parser.add_argument("--outdir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--commands", action="store_true", help="print each run's interests command; run nothing"
    )
    args = parser.parse_args(argv)
    unknown = set(args.runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs {sorted(unknown)}; choose from {', '.join(RUNS)}")
    if args.commands:
        for name in args.runs or list(RUNS):
            print(f"{name}: {command(name)}")
        return 0
    sys.path.insert(0, str(ROOT))
    from streams.cli.evaluate import main as evaluate

    args.outdir.mkdir(parents=True, exist_ok=True)
    for name in args.runs or list(RUNS):
        out, png = args.outdir / f"{name}.json", args.outdir / f"{name}.png"
        started = time.perf_counter()
        print(f"== {name}: interests evaluate {' '.join(RUNS[name])}", flush=True)
        code = evaluate([*RUNS[name], "--out", str(out), "--plot", str(png)])
        print(f"== {name}: exit {code}, {time.perf_counter() - started:.0f} s\n", flush=True)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
