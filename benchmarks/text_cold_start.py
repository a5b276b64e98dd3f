"""Cold-start items placed by their text: sentence embedding + hashed words vs hashed vs none.

On ml-100k (titles and genres from ``ml-100k.item``): 10% of the items are
hidden from training. Item vectors of the rest come from a truncated SVD of the
training user × item matrix (a stand-in for the trainer's item table: the
placement step is the trainer's own :func:`models.cold_start.cold_start_vectors`).
The hidden items are then placed by the content projection with hashed title
words and genres (``hashed``), with the all-MiniLM-L6-v2 embedding of
"title. genres" added (``text``), or not at all (``none``: zero vectors, so they
rank by chance among ties). Every interaction with a hidden item is a test
case: the user's vector (their SVD factor) ranks all items except the user's
training items; HR@10 and NDCG@10 of the hidden item.

    PYTHONPATH=. .venv/bin/python benchmarks/text_cold_start.py [--dim 32] [--seed 0]

A static ranking, not the service: ``benchmarks/text_cold_start_replay.py``
measures the same question in the streaming replay with the trainer's GRU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from models.cold_start import cold_start_vectors
from models.text_encoder import load_text_encoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def load(data: Path) -> tuple[dict[str, dict[str, object]], list[tuple[str, str]]]:
    catalog: dict[str, dict[str, object]] = {}
    for line in (data / "ml-100k.item").read_text(encoding="latin-1").splitlines()[1:]:
        item, title, _year, genres = [*line.split("\t"), "", "", ""][:4]
        tags = genres.split()
        catalog[item] = {"title": title, "tags": tags, "description": " ".join(tags)}
    pairs = []
    for line in (data / "ml-100k.inter").read_text().splitlines()[1:]:
        user, item, _rating, _ts = line.split("\t")
        pairs.append((user, item))
    return catalog, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--hide", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    catalog, pairs = load(args.data)
    items = sorted({i for _, i in pairs})
    hidden = set(rng.choice(items, size=int(args.hide * len(items)), replace=False).tolist())
    users = sorted({u for u, _ in pairs})
    u_index = {u: n for n, u in enumerate(users)}
    known = [i for i in items if i not in hidden]
    k_index = {i: n for n, i in enumerate(known)}
    matrix = np.zeros((len(users), len(known)), np.float32)
    for u, i in pairs:
        if i not in hidden:
            matrix[u_index[u], k_index[i]] = 1.0
    left, sigma, right = np.linalg.svd(matrix, full_matrices=False)
    root = np.sqrt(sigma[: args.dim])
    user_vectors = left[:, : args.dim] * root
    item_vectors = {i: (right[: args.dim, n] * root).astype(np.float32) for i, n in k_index.items()}
    tests = [(u, i) for u, i in pairs if i in hidden]
    seen: dict[str, set[str]] = {}
    for u, i in pairs:
        if i not in hidden:
            seen.setdefault(u, set()).add(i)
    print(f"{len(items)} items, {len(hidden)} hidden, {len(tests)} test interactions")

    variants: dict[str, object] = {"none": None, "hashed": "hashed"}
    encoder = load_text_encoder("auto", threads=1)
    if encoder is not None:
        variants["text"] = encoder
    for name, how in variants.items():
        started = time.perf_counter()
        cat = {i: catalog.get(i, {}) for i in items}
        if how is None:
            placed = {i: np.zeros(args.dim, np.float32) for i in hidden}
        else:
            enc = None if how == "hashed" else encoder
            _, placed = cold_start_vectors(cat, item_vectors, encoder=enc)
        table = {**item_vectors, **placed}
        ids = list(table)
        col = {i: n for n, i in enumerate(ids)}
        full = np.stack([table[i] for i in ids])
        cold = np.array([col[i] for i in sorted(hidden)])
        figures = {"all items": [0.0, 0.0], "hidden items only": [0.0, 0.0]}
        for u, target in tests:
            scores = full @ user_vectors[u_index[u]]
            scores[[col[i] for i in seen.get(u, ())]] = -np.inf
            among = {"all items": scores, "hidden items only": scores[cold]}
            for what, pool in among.items():
                # Ties (the zero vectors of "none"): any place in the tie, equally likely.
                mine = scores[col[target]]
                higher, tied = int((pool > mine).sum()), int((pool == mine).sum())
                for rank in range(higher, min(higher + tied, 10)):  # each place 1/tied likely
                    figures[what][0] += 1 / tied
                    figures[what][1] += 1 / np.log2(rank + 2) / tied
        n = len(tests)
        line = "  ".join(
            f"{what}: HR@10 {h / n:.4f} NDCG@10 {g / n:.4f}" for what, (h, g) in figures.items()
        )
        print(f"{name:>7}: {line}  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
