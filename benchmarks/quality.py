"""Recommendation quality on every data file: the runs behind the reported tables.

    INTERESTS_TORCH_THREADS=1 .venv/bin/python benchmarks/quality.py [RUN ...] [--outdir DIR]
    .venv/bin/python benchmarks/quality.py --commands   # each run's interests command

Each run is one ``interests evaluate`` invocation with the flags below;
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


def _amazon_loo(file: str) -> list[str]:
    """Leave-one-out on an Amazon file, seen items excluded (as ICLRec), the trainer's GRU."""
    return ["--protocol", "loo", "--data", f"{DATA}/{file}", "--exclude-seen"]


# Every run trains the GRU with the trainer's defaults (no GRU flags): what is measured is what
# the service runs. The flags left are the data's own: the short-term half-life on the file's
# clock (ml-100k rates in bursts of seconds; the Amazon files have no timestamps, so their
# events are replayed one second apart), the refresh interval and, for ml-100k leave-one-out,
# a held blend weight (leave-one-out has no stream to learn it on).
RUNS: dict[str, list[str]] = {
    "ml100k-prequential": [
        "--data", f"{DATA}/ml-100k.inter", "--half-life", "10", "--refresh-every", "10000",
    ],
    # Ablation: long-term vectors frozen between refreshes (a worker without the GRU step).
    "ml100k-prequential-frozen": [
        "--data", f"{DATA}/ml-100k.inter", "--half-life", "10", "--refresh-every", "10000",
        "--long-term-mode", "refresh",
    ],
    "ml100k-loo": [
        "--protocol", "loo", "--data", f"{DATA}/ml-100k.inter", "--exclude-seen",
        "--half-life", "10", "--blend-prior", "0.9", "--hold-mix",
    ],
    "toys-loo": _amazon_loo("amazon-toys.txt"),
    "toys-prequential": [
        "--data", f"{DATA}/amazon-toys.txt", "--refresh-every", "25000", "--half-life", "100000",
    ],
    "games-loo": _amazon_loo("amazon-video-games.txt"),
    "games-prequential": [
        "--data", f"{DATA}/amazon-video-games.txt", "--limit", "100000",
        "--refresh-every", "25000", "--half-life", "100000",
    ],
    "drift": [
        "--protocol", "drift", "--limit", "40000", "--half-life", "300", "--refresh-every", "5000",
    ],
}  # fmt: skip


def command(name: str) -> str:
    """The ``interests evaluate`` line of run ``name``, with paths relative to the repository."""
    flags = [flag.replace(f"{DATA}/", "../shared/data/") for flag in RUNS[name]]
    return "INTERESTS_TORCH_THREADS=1 interests evaluate " + " ".join(flags)


_COLUMNS = ("popularity", "river_mf", "short_term", "long_term", "blend", "fusion")
_LABELS = dict(
    zip(
        _COLUMNS,
        ("popularity", "river MF", "short-term", "long-term", "vector blend", "fusion"),
        strict=True,
    )
)
_TITLES = {
    "ml100k-prequential": "ml-100k, prequential, 100,000 events",
    "ml100k-prequential-frozen": "ml-100k, prequential, long-term frozen between refreshes",
    "ml100k-loo": "ml-100k, leave-one-out, seen items excluded",
    "toys-loo": "amazon-toys, leave-one-out, seen items excluded",
    "toys-prequential": "amazon-toys, prequential, 167,597 events",
    "games-loo": "amazon-video-games, leave-one-out, seen items excluded",
    "games-prequential": "amazon-video-games, prequential, first 100,000 events",
    "drift": "synthetic drift, 40,000 events",
}


def table(outdir: Path) -> list[str]:
    """The README's quality table and drift line, from the runs' JSON in ``outdir``."""
    import json

    lines = [
        "| run | popularity | river MF | short-term | long-term | vector blend | fusion | wall |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    drift = ""
    for name in RUNS:
        path = outdir / f"{name}.json"
        if not path.exists():
            continue
        run = json.loads(path.read_text())
        ndcg = {v["name"]: v["ndcg"] for v in run["variants"]}
        best = max(ndcg.values())
        shown = {c: f"{v:.4f}" if v < best else f"**{v:.4f}**" for c, v in ndcg.items()}
        cells = [shown.get(c, "–") for c in _COLUMNS]
        wall = run["info"].get("wall_seconds", run["info"].get("seconds", 0.0))
        lines.append(f"| {_TITLES[name]} (`{name}`) | {' | '.join(cells)} | {wall:.0f} s |")
        adapted = [d for d in run.get("drift") or [] if d["mean_events"] is not None]
        if adapted:
            parts = [
                f"{_LABELS[d['name']]} {d['mean_events']:.2f} / {d['median_events']:g}"
                for d in adapted
            ]
            drift = (
                "Synthetic drift, events after a switch until half of the top-10 is in the new "
                f"category (mean / median, over {adapted[0]['switches']} switches): "
                + "; ".join(parts)
                + "; popularity never adapts."
            )
    return [*lines, "", drift] if drift else lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", metavar="RUN", help=f"any of {', '.join(RUNS)}")
    parser.add_argument("--outdir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--commands", action="store_true", help="print each run's interests command; run nothing"
    )
    parser.add_argument(
        "--table", action="store_true", help="print the README's table from --outdir; run nothing"
    )
    args = parser.parse_args(argv)
    unknown = set(args.runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs {sorted(unknown)}; choose from {', '.join(RUNS)}")
    if args.table:
        print("\n".join(table(args.outdir)))
        return 0
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
