"""The harness's long-term vectors: stepped per chosen item (as workers do), or frozen."""

from __future__ import annotations

import numpy as np

from models.evaluation import Catalog
from models.evaluation.long_term_source import LongTermSource
from models.long_term import TrainConfig
from models.long_term.fit import LongTermConfig, fit


def sequences(n_users: int = 12) -> dict[str, list[str]]:
    return {f"u{u}": [f"i{(u + j) % 9}" for j in range(8)] for u in range(n_users)}


SHAPE = LongTermConfig(dim=8, max_len=6, dropout=0.0)
ONE_EPOCH = TrainConfig(epochs=1, batch_size=8, device="cpu")


def test_event_mode_steps_the_user_and_refresh_mode_stays_frozen():
    catalog = Catalog(f"i{k}" for k in range(9))
    refresh = fit(sequences(), catalog, SHAPE, ONE_EPOCH)
    stepping, frozen = LongTermSource("event", catalog), LongTermSource("refresh", catalog)
    for source in (stepping, frozen):
        source.refreshed(refresh)
        source.learn("u1", "i4", weight=1.0)
        source.learn("u1", "i5", weight=-1.0)  # a skip: not a step
        source.learn("new", "i2", weight=1.0)
    stepper, row = refresh.stepper, catalog.get_index("i4")
    assert row is not None
    expected = stepper.output(stepper.step(refresh.user_states["u1"], refresh.item_vectors[row]))
    np.testing.assert_allclose(stepping.vector("u1"), expected, atol=1e-6)
    np.testing.assert_array_equal(frozen.vector("u1"), refresh.user_vectors["u1"])
    assert stepping.vector("new") is not None and frozen.vector("new") is None
