"""Cost per search event of placing its query in the item space (what the worker adds).

Times :func:`models.text_encoder.place_texts` (hashed words, and the sentence
model when the ``[text]`` extra is installed) on batches of queries, as the
worker calls it once per batch, on one torch thread.

    PYTHONPATH=. .venv/bin/python benchmarks/search_cost.py [--batches 1 8 32 128]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from models.content_projection import ContentProjection
from models.text_encoder import HASHED_FEATURES, load_text_encoder, place_texts

WORDS = [
    "red",
    "blue",
    "running",
    "shoe",
    "hat",
    "chair",
    "garden",
    "woollen",
    "thriller",
    "comedy",
    "space",
    "drama",
]


def queries(n: int, rng: np.random.Generator) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=3)) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    encoder = load_text_encoder("auto", threads=1)
    loaded = time.perf_counter() - started
    print(f"encoder: {encoder.name if encoder else 'none'} (load {loaded:.1f} s)")
    variants = [("hashed words", None, HASHED_FEATURES)]
    if encoder is not None:
        variants.append((f"hashed + {encoder.name}", encoder, HASHED_FEATURES + encoder.dim))
    for name, enc, width in variants:
        projection = ContentProjection(rng.standard_normal((width, 64)).astype(np.float32), 1)
        place_texts(queries(4, rng), projection, enc, 1.0)  # warm
        for size in args.batches:
            times = []
            for _ in range(args.repeat):
                batch = queries(size, rng)
                t = time.perf_counter()
                place_texts(batch, projection, enc, 1.0)
                times.append(time.perf_counter() - t)
            per_event = 1000 * float(np.median(times)) / size
            print(f"{name:>28}  batch {size:4d}: {per_event:7.3f} ms per search event")


if __name__ == "__main__":
    main()
