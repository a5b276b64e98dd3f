"""Runs the faust worker in this process until SIGTERM or Ctrl-C."""

from __future__ import annotations

import os

# A worker is one event loop scoring small batches: BLAS threads only contend
# with it (and with the other workers on the host). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # faiss searches one batch at a time

import asyncio

import faust

from streams.settings import Settings
from streams.topics import ensure_topics
from streams.worker.app import create_app
from streams.worker.preflight import wait_for_services


def run_worker(settings: Settings) -> None:
    asyncio.run(wait_for_services(settings))
    asyncio.run(ensure_topics(settings))
    # faust's Worker wants to own a fresh event loop.
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()
