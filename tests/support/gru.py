"""A small GRU step with random weights, for tests of code that steps users (no torch)."""

from __future__ import annotations

import numpy as np

from models.gru_step import GRUStepper


def random_stepper(dim: int = 8, hidden: int = 6, seed: int = 2) -> GRUStepper:
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32) * 0.5

    return GRUStepper(
        [w(3 * hidden, dim)],
        [w(3 * hidden, hidden)],
        [w(3 * hidden)],
        [w(3 * hidden)],
        w(dim, hidden),
        w(dim),
    )
