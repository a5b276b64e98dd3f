"""Runs the faust worker in this process until SIGTERM or Ctrl-C."""

from __future__ import annotations

import os

# A worker is one event loop scoring small batches: BLAS threads only contend
# with it (and with the other workers on the host). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # faiss searches one batch at a time

import asyncio
import gc

import faust
from threadpoolctl import threadpool_limits

from streams.settings import Settings
from streams.topics import ensure_topics
from streams.worker.app import create_app
from streams.worker.preflight import wait_for_services


def single_threaded_math() -> None:
    """One BLAS/OpenMP thread in every pool already loaded.

    The variables above only reach libraries loaded after them, and the CLI
    imports numpy before it knows which command runs: numpy's OpenBLAS then
    starts a thread per core. A second BLAS thread halves nothing for a
    500-user batch, but on a busy host the loop waits for it to be scheduled
    (the batch's top-K product took 13% of the loop's time under load).
    """
    threadpool_limits(1)


def run_worker(settings: Settings) -> None:
    single_threaded_math()
    asyncio.run(wait_for_services(settings))
    asyncio.run(ensure_topics(settings))
    # faust's Worker wants to own a fresh event loop.
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    # Everything loaded so far lives as long as the process: out of the
    # collector's sight, a full collection no longer walks it between batches.
    gc.freeze()
    worker.execute_from_commandline()
