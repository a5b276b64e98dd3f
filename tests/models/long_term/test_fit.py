"""Fitting the GRU: ids follow table rows, warm starts grow, early stopping keeps the best."""

from __future__ import annotations

import numpy as np
import torch

from models.item_table import ItemTable
from models.long_term import TrainConfig
from models.long_term.fit import LongTermConfig, encode, fit, user_vectors
from models.long_term.vocabulary import Vocabulary

SHAPE = LongTermConfig(dim=8, max_len=6, dropout=0.0)
ONE_EPOCH = TrainConfig(epochs=1, batch_size=8, device="cpu")


def catalog(*items: str) -> Vocabulary:
    return Vocabulary.grown(None, {"": list(items)})


def sequences(n_users: int = 12) -> dict[str, list[str]]:
    return {f"u{u}": [f"i{(u + j) % 9}" for j in range(8)] for u in range(n_users)}


def test_vectors_line_up_with_the_table_rows():
    table = ItemTable(dim=8, seed=0)
    for item in ["i3", "i0", "zz", *[f"i{k}" for k in range(9)]]:
        table.index_of(item)
    refresh = fit(sequences(), table, SHAPE, ONE_EPOCH)
    weights = refresh.model.item_vectors().detach().numpy()
    assert refresh.item_ids == table.ids
    assert refresh.item_vectors.shape == (len(table), 8)
    for row in range(len(table)):
        np.testing.assert_array_equal(refresh.item_vectors[row], weights[row + 1])
    assert set(refresh.user_vectors) == set(sequences())


def test_unknown_items_are_dropped_and_empty_users_get_no_vector():
    rows = catalog("a", "b")
    assert encode({"u": ["a", "x", "b"], "v": ["x"]}, rows) == {"u": [1, 2], "v": []}
    refresh = fit({"u": ["a", "b", "a"], "v": ["x"]}, rows, SHAPE, ONE_EPOCH)
    assert set(refresh.user_vectors) == {"u"}


def test_warm_start_grows_the_catalog_and_keeps_training():
    rows = catalog(*(f"i{k}" for k in range(9)))
    first = fit(sequences(), rows, SHAPE, ONE_EPOCH)
    before = first.model.item_vectors().detach().clone()
    rows = Vocabulary.grown(rows, {"": ["new"]})
    no_training = TrainConfig(epochs=1, batch_size=8, lr=1e-12, device="cpu")
    second = fit(sequences(), rows, SHAPE, no_training, previous=first.model)
    assert second.model.config.n_items == 10
    torch.testing.assert_close(second.model.item_vectors()[:10], before, atol=1e-6, rtol=0)


def test_early_stopping_keeps_the_best_epoch():
    rows = catalog(*(f"i{k}" for k in range(9)))
    scores = iter([0.1, 0.5, 0.2, 0.3, 0.1, 0.9])
    snapshots: list[torch.Tensor] = []

    def validate(model):
        snapshots.append(model.item_vectors().detach().clone())
        return next(scores)

    refresh = fit(
        sequences(),
        rows,
        SHAPE,
        TrainConfig(epochs=6, batch_size=8, device="cpu"),
        validate=validate,
        patience=2,
    )
    assert refresh.best_epoch == 1 and refresh.epochs_run == 4
    torch.testing.assert_close(refresh.model.item_vectors(), snapshots[1])


def test_validating_every_few_epochs_counts_patience_in_validations():
    rows = catalog(*(f"i{k}" for k in range(9)))
    scores = iter([0.5, 0.2, 0.3, 0.9])
    validated: list[int] = []

    def validate(model):
        validated.append(len(validated))
        return next(scores)

    refresh = fit(
        sequences(),
        rows,
        SHAPE,
        TrainConfig(epochs=9, batch_size=8, device="cpu"),
        validate=validate,
        patience=2,
        validate_every=2,
    )
    # Validated after epochs 1 and 3 (0-based), then 5: two without a better score stop it.
    assert len(validated) == 3 and refresh.best_epoch == 1 and refresh.epochs_run == 6


def test_one_cycle_warm_up_epochs_are_never_kept():
    rows = catalog(*(f"i{k}" for k in range(9)))
    scores = iter([0.9, 0.8, 0.7])  # in call order: the first epoch scored is the best
    config = TrainConfig(epochs=6, batch_size=8, device="cpu", schedule="onecycle", warmup=0.5)
    validated: list[int] = []

    def validate(model):
        validated.append(1)
        return next(scores)

    refresh = fit(sequences(), rows, SHAPE, config, validate=validate, patience=10)
    assert len(validated) == 3  # epochs 3, 4, 5: the first three are the warm-up
    assert refresh.best_epoch == 3 and refresh.epochs_run == 6


def test_same_seed_same_vectors():
    rows = catalog(*(f"i{k}" for k in range(9)))
    a = fit(sequences(), rows, SHAPE, ONE_EPOCH)
    b = fit(sequences(), rows, SHAPE, ONE_EPOCH)
    np.testing.assert_array_equal(a.item_vectors, b.item_vectors)
    for user in a.user_vectors:
        np.testing.assert_array_equal(a.user_vectors[user], b.user_vectors[user])


def test_published_states_read_out_as_the_torch_vectors():
    rows = catalog(*(f"i{k}" for k in range(9)))
    refresh = fit(sequences(), rows, SHAPE, ONE_EPOCH)
    torch_vectors = user_vectors(refresh.model, encode(sequences(), rows))
    for user, state in refresh.user_states.items():
        np.testing.assert_allclose(refresh.stepper.output(state), torch_vectors[user], atol=1e-5)
