"""At a model swap the harness re-bases short-term vectors exactly as the worker does."""

from __future__ import annotations

import numpy as np

from models.evaluation import EvalConfig, LongTermConfig
from models.evaluation.events import StreamEvent
from models.evaluation.stream_variants import Interest
from models.short_term import rebase


def test_swap_rebases_with_the_workers_function_and_keeps_the_length():
    variant = Interest("blend", EvalConfig(long_term=LongTermConfig(dim=4)), long_term=None)
    for n, item in enumerate(["a", "b", "c", "b"]):
        variant.learn(StreamEvent("u", item, "view", float(n)), n, 1.0, key=n)
    before = variant.users["u"]
    rng = np.random.default_rng(0)
    new = rng.normal(size=(3, 4)).astype(np.float32)
    variant.take_item_vectors(["a", "b", "c"], new)
    after = variant.users["u"].short_term
    recent = [variant.items.get_index(i) for i in before.recent]  # newest first: b, c, a
    expected = rebase(variant.items.matrix[recent], float(np.linalg.norm(before.short_term.vector)))
    np.testing.assert_allclose(after.vector, expected, rtol=1e-6)
    # The worker's decay, not another: b, c, a weigh 1, 0.8, 0.64 before rescaling.
    direction = new[1] + 0.8 * new[2] + 0.64 * new[0]
    np.testing.assert_allclose(
        after.vector / np.linalg.norm(after.vector),
        direction / np.linalg.norm(direction),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        np.linalg.norm(after.vector), np.linalg.norm(before.short_term.vector), rtol=1e-6
    )
    assert after.ts == before.short_term.ts
