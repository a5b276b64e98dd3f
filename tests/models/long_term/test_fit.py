"""The long-term refresh: ids follow table rows, warm starts grow, early stopping keeps the best."""

from __future__ import annotations

import numpy as np
import torch

from models.evaluation import Catalog, LongTermConfig, refresh_long_term
from models.evaluation.long_term_source import LongTermSource
from models.item_table import ItemTable
from models.long_term import TrainConfig
from models.long_term.fit import encode, user_vectors

SHAPE = LongTermConfig(dim=8, max_len=6, dropout=0.0)
ONE_EPOCH = TrainConfig(epochs=1, batch_size=8, device="cpu")


def sequences(n_users: int = 12) -> dict[str, list[str]]:
    return {f"u{u}": [f"i{(u + j) % 9}" for j in range(8)] for u in range(n_users)}


def test_vectors_line_up_with_the_table_rows():
    table = ItemTable(dim=8, seed=0)
    for item in ["i3", "i0", "zz", *[f"i{k}" for k in range(9)]]:
        table.index_of(item)
    refresh = refresh_long_term(sequences(), table, SHAPE, ONE_EPOCH)
    weights = refresh.model.item_vectors().detach().numpy()
    assert refresh.item_ids == table.ids
    assert refresh.item_vectors.shape == (len(table), 8)
    for row in range(len(table)):
        np.testing.assert_array_equal(refresh.item_vectors[row], weights[row + 1])
    assert set(refresh.user_vectors) == set(sequences())


def test_unknown_items_are_dropped_and_empty_users_get_no_vector():
    catalog = Catalog(["a", "b"])
    assert encode({"u": ["a", "x", "b"], "v": ["x"]}, catalog) == {"u": [1, 2], "v": []}
    refresh = refresh_long_term({"u": ["a", "b", "a"], "v": ["x"]}, catalog, SHAPE, ONE_EPOCH)
    assert set(refresh.user_vectors) == {"u"}


def test_warm_start_grows_the_catalog_and_keeps_training():
    catalog = Catalog(f"i{k}" for k in range(9))
    first = refresh_long_term(sequences(), catalog, SHAPE, ONE_EPOCH)
    before = first.model.item_vectors().detach().clone()
    catalog.add("new")
    no_training = TrainConfig(epochs=1, batch_size=8, lr=1e-12, device="cpu")
    second = refresh_long_term(sequences(), catalog, SHAPE, no_training, previous=first.model)
    assert second.model.config.n_items == 10
    torch.testing.assert_close(second.model.item_vectors()[:10], before, atol=1e-6, rtol=0)


def test_early_stopping_keeps_the_best_epoch():
    catalog = Catalog(f"i{k}" for k in range(9))
    scores = iter([0.1, 0.5, 0.2, 0.3, 0.1, 0.9])
    snapshots: list[torch.Tensor] = []

    def validate(model):
        snapshots.append(model.item_vectors().detach().clone())
        return next(scores)

    refresh = refresh_long_term(
        sequences(),
        catalog,
        SHAPE,
        TrainConfig(epochs=6, batch_size=8, device="cpu"),
        validate=validate,
        patience=2,
    )
    assert refresh.best_epoch == 1 and refresh.epochs_run == 4
    torch.testing.assert_close(refresh.model.item_vectors(), snapshots[1])


def test_same_seed_same_vectors():
    catalog = Catalog(f"i{k}" for k in range(9))
    a = refresh_long_term(sequences(), catalog, SHAPE, ONE_EPOCH)
    b = refresh_long_term(sequences(), catalog, SHAPE, ONE_EPOCH)
    np.testing.assert_array_equal(a.item_vectors, b.item_vectors)
    for user in a.user_vectors:
        np.testing.assert_array_equal(a.user_vectors[user], b.user_vectors[user])


def test_published_states_read_out_as_the_torch_vectors():
    catalog = Catalog(f"i{k}" for k in range(9))
    refresh = refresh_long_term(sequences(), catalog, SHAPE, ONE_EPOCH)
    torch_vectors = user_vectors(refresh.model, encode(sequences(), catalog))
    for user, state in refresh.user_states.items():
        np.testing.assert_allclose(refresh.stepper.output(state), torch_vectors[user], atol=1e-5)


def test_event_mode_steps_the_user_and_refresh_mode_stays_frozen():
    catalog = Catalog(f"i{k}" for k in range(9))
    refresh = refresh_long_term(sequences(), catalog, SHAPE, ONE_EPOCH)
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
