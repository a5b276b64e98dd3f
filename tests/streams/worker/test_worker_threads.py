"""The worker's math runs on one thread even when numpy was loaded before it could say so."""

from __future__ import annotations

import numpy as np  # loaded first, as the CLI does
from threadpoolctl import threadpool_info, threadpool_limits

from streams.worker.run import single_threaded_math


def test_every_loaded_pool_gets_one_thread() -> None:
    assert np.ones(2) @ np.ones(2) == 2.0
    with threadpool_limits(2):  # whatever the pools had, restored after the test
        single_threaded_math()
        pools = threadpool_info()
        assert pools, "no BLAS/OpenMP pool found"
        assert {p["num_threads"] for p in pools} == {1}
