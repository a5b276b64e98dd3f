"""Approximate top-K (HNSW, ``models.ann_index``) against brute force on a large catalogue.

A synthetic clustered catalogue (items around centres, varied norms, so that
recall is meaningful; uniform noise has no near neighbours), users as noisy
means of a few items. Reports the index's build time and memory, recall@k of
the index against exact top-k, and the scoring time of one worker batch of
users, index vs brute force (``models.topk.top_k``), with the excluded items a
worker passes (each user's recent items). Queries run on one thread, as the
worker's BLAS does; the build uses ``--build-threads``. Targets: recall@20 >= 0.95
at 1,000,000 items, dim 64.

    PYTHONPATH=$PWD python benchmarks/ann_topk.py --items 1000000 --queries 1000
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the worker runs; before numpy loads

import argparse
import json
import time

import faiss
import numpy as np

from models.ann_index import HnswParams, HnswTopK
from models.topk import top_k


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def catalogue(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Items around n/500 centres, and each item's centre."""
    centres = rng.standard_normal((max(1, n // 500), dim), dtype=np.float32)
    label = rng.integers(0, len(centres), n)
    rows = centres[label]
    rows += 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
    rows *= 0.5 + rng.random((n, 1), dtype=np.float32)
    return rows, label


def users(
    items: np.ndarray, label: np.ndarray, n: int, spread: int, rng: np.random.Generator
) -> np.ndarray:
    """Each user: the mean of 5 items drawn from ``spread`` clusters, plus noise.

    ``spread`` 0 draws the 5 items from the whole catalogue: a diffuse taste, the
    hardest case for a graph index."""
    if spread == 0:
        picked = items[rng.integers(0, len(items), (n, 5))]
    else:
        order = np.argsort(label, kind="stable")
        starts = np.searchsorted(label[order], np.arange(label.max() + 1))
        sizes = np.bincount(label, minlength=label.max() + 1)
        chosen = rng.integers(0, len(sizes), (n, spread))
        clusters = np.take_along_axis(chosen, rng.integers(0, spread, (n, 5)), axis=1)
        offsets = (rng.random((n, 5)) * sizes[clusters]).astype(np.intp)
        picked = items[order[starts[clusters] + offsets]]
    mean = picked.mean(axis=1)
    return np.asarray(mean + 0.2 * rng.standard_normal(mean.shape), np.float32)


def exact(queries: np.ndarray, items: np.ndarray, k: int, chunk: int) -> np.ndarray:
    """Brute-force top-k in chunks of users, so a 1M catalogue fits in memory."""
    parts = [top_k(queries[i : i + chunk], items, k)[0] for i in range(0, len(queries), chunk)]
    return np.vstack(parts)


def main() -> None:
    defaults = HnswParams()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500, help="users scored per worker batch")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--recent", type=int, default=50, help="excluded items per user")
    parser.add_argument("--m", type=int, default=defaults.m)
    parser.add_argument("--ef-construction", type=int, default=defaults.ef_construction)
    parser.add_argument("--ef", type=int, nargs="+", default=[64, defaults.ef_search, 256])
    parser.add_argument("--build-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk", type=int, default=100, help="users per brute-force product")
    parser.add_argument("--spread", type=int, default=2, help="clusters per user; 0: any")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    items, label = catalogue(args.items, args.dim, rng)
    queries = users(items, label, args.queries, args.spread, rng)
    batch = users(items, label, args.batch, args.spread, rng)
    recent = [list(rng.integers(0, args.items, args.recent)) for _ in range(args.batch)]
    report: dict[str, object] = {
        "items": args.items,
        "dim": args.dim,
        "k": args.k,
        "spread": args.spread,
        "m": args.m,
    }

    faiss.omp_set_num_threads(args.build_threads)
    before = rss_mb()
    started = time.perf_counter()
    index = HnswTopK(items, HnswParams(args.m, args.ef_construction, args.ef[0]))
    report["build_s"] = round(time.perf_counter() - started, 1)
    report["build_threads"] = args.build_threads
    report["index_rss_mb"] = round(rss_mb() - before, 0)
    report["catalogue_mb"] = round(items.nbytes / 2**20, 0)
    faiss.omp_set_num_threads(1)

    started = time.perf_counter()
    truth = exact(queries, items, args.k, args.chunk)
    report["exact_per_query_ms"] = round((time.perf_counter() - started) / len(queries) * 1e3, 2)
    started = time.perf_counter()
    for i in range(0, args.batch, args.chunk):
        top_k(batch[i : i + args.chunk], items, args.k, recent[i : i + args.chunk])
    report["brute_batch_ms"] = round((time.perf_counter() - started) * 1e3, 1)

    per_ef = []
    for ef in args.ef:
        index._index.hnsw.efSearch = ef  # a sweep, not the worker's path
        index.params = HnswParams(args.m, args.ef_construction, ef)
        found, _ = index.top_k(queries, items, args.k)
        recall = float(
            np.mean([len(set(a) & set(t)) / args.k for a, t in zip(found, truth, strict=True)])
        )
        started = time.perf_counter()
        index.top_k(batch, items, args.k, recent)
        batch_ms = (time.perf_counter() - started) * 1e3
        per_ef.append({"ef": ef, "recall": round(recall, 4), "batch_ms": round(batch_ms, 1)})
    report["ann"] = per_ef
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
