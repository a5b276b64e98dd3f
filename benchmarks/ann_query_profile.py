"""Per-batch HNSW query CPU vs batch size and fetch, on the worker's one-thread path.

``vector_k20``: the vector blend's call (k 20, ef INTERESTS_ANN_EF); ``fusion_fetch200``:
score-level fusion's (its max(4k, 200) candidates, so the search's ef is at least 200);
``brute``: models.topk.top_k. CPU ms per user, best of 3, after a build on 2 threads.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/ann_query_profile.py 100000
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import json
import sys
import time

import faiss
import numpy as np

from benchmarks.ann_topk import catalogue, users
from models.ann_index import HnswParams, HnswTopK
from models.topk import top_k

N = int(sys.argv[1])
rng = np.random.default_rng(7)
items, label = catalogue(N, 64, rng)
t = time.process_time()
w = time.perf_counter()
index = HnswTopK(items, HnswParams(), build_threads=2)
build = (time.perf_counter() - w, time.process_time() - t)
faiss.omp_set_num_threads(1)
out = {"items": N, "build_wall_cpu_s": [round(x, 1) for x in build], "rows": []}
for batch in (20, 100, 400):
    q = users(items, label, batch, 2, rng)
    excl = [list(rng.integers(0, N, 4)) for _ in range(batch)]
    row = {"batch": batch}
    for name, k in (("vector_k20", 20), ("fusion_fetch200", 200)):
        best = 1e9
        for _ in range(3):
            c = time.process_time()
            index.top_k(q, items, k, excl)
            best = min(best, time.process_time() - c)
        row[name + "_cpu_ms_per_user"] = round(1000 * best / batch, 3)
    c = time.process_time()
    top_k(q, items, 20, excl)
    row["brute_cpu_ms_per_user"] = round(1000 * (time.process_time() - c) / batch, 3)
    out["rows"].append(row)
out["load_1m"] = round(os.getloadavg()[0], 2)
print(json.dumps(out))
