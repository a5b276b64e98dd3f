"""How many CPU threads torch trains with: chosen from the cores that are free, never left to torch.

torch's default (one thread per physical core) assumes the machine is idle.
On a busy 2-core machine its threads spin waiting for each other: one GRU
retraining took 91.7 s with the default and 3.9 s with one thread. The
trainer and ``interests evaluate`` both call :func:`apply_threads` once at
start and log its :class:`ThreadChoice`.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ThreadChoice:
    """What :func:`apply_threads` set, and why (for the log)."""

    threads: int
    interop_threads: int
    cpus: int
    load: float
    automatic: bool

    def describe(self) -> str:
        how = (
            f"auto: {self.cpus} CPUs, load {self.load:.2f}"
            if self.automatic
            else "INTERESTS_TORCH_THREADS"
        )
        return f"torch threads {self.threads}, inter-op {self.interop_threads} ({how})"


def choose_threads(requested: int, cpus: int, load: float) -> int:
    """``requested`` when positive; else the cores that the load leaves idle, at least one.

    >>> choose_threads(3, cpus=2, load=0.0)
    3
    >>> choose_threads(0, cpus=2, load=1.4), choose_threads(0, cpus=8, load=2.6)
    (1, 5)
    >>> choose_threads(0, cpus=2, load=0.1)
    2
    """
    if requested > 0:
        return requested
    idle = cpus - load
    return max(1, min(cpus, math.floor(idle + 0.5)))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity call on this platform
        return max(1, os.cpu_count() or 1)


def current_load() -> float:
    """One-minute load average, or 0 where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def apply_threads(requested: int) -> ThreadChoice:
    """Set torch's intra-op threads (``requested``, or automatic when 0) and one inter-op thread.

    The GRU's training is one chain of ops; inter-op parallelism only adds
    threads that compete for the same cores. torch accepts the inter-op
    count once per process, before any parallel work: later calls keep it.
    """
    cpus, load = usable_cpus(), current_load()
    threads = choose_threads(requested, cpus, load)
    torch.set_num_threads(threads)
    # Refused once set, or once inter-op work has run in this process.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return ThreadChoice(
        torch.get_num_threads(), torch.get_num_interop_threads(), cpus, load, requested <= 0
    )
