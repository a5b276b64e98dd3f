"""The demo's trainer: one ``interests trainer --once`` process with small settings.

A separate process, as in production, so torch never loads into the demo and
the worker picks the new version up only through Redis and ``model-updates``.
The settings keep a refresh to seconds on a CPU; they are ordinary
``INTERESTS_*`` settings, so ``interests trainer`` with the same values would
train the same model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from streams.devtools.embedded import ManagedProcess
from streams.settings import Settings

DEMO_VECTOR_SIZE = 32
DEMO_MODEL_POLL_S = 0.5
# One BLAS/OpenMP thread: beside the worker and the producer, torch's default
# (one per core) oversubscribes a small machine and a 3 s refresh takes 30 s.
TRAINER_THREADS_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DEMO_TRAINER = {
    "trainer_epochs": 8,
    "trainer_patience": 2,
    "trainer_batch_size": 16,
    "trainer_max_len": 20,
}


def demo_model_settings(settings: Settings, model_dir: Path) -> Settings:
    """Small vectors and a short training, for worker and trainer alike; the
    worker looks for the new version often, so the swap shows soon after."""
    return settings.replace(
        vector_size=DEMO_VECTOR_SIZE,
        model_poll_s=min(settings.model_poll_s, DEMO_MODEL_POLL_S),
        model_dir=str(model_dir),
        **DEMO_TRAINER,
    )


def start_trainer(settings: Settings, log_path: Path) -> ManagedProcess:
    """``interests trainer --once`` in its own process group; output to ``log_path``."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli.main", "trainer", "--once"],
            env={**os.environ, **TRAINER_THREADS_ENV, **settings.as_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return ManagedProcess("trainer", process, 0)
