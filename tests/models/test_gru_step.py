"""The numpy GRU step reproduces the trained torch GRU exactly, one event at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.gru_step import GRUStepper
from models.long_term import GRUConfig, GRURecommender, pad_sequences


def _model(layers: int = 1, hidden: int | None = None) -> GRURecommender:
    config = GRUConfig(n_items=30, dim=8, hidden=hidden, layers=layers, max_len=12, seed=3)
    return GRURecommender(config).eval()


@torch.no_grad()
def _torch_user_vectors(model: GRURecommender, sequences: list[list[int]]) -> np.ndarray:
    seqs, lengths = pad_sequences(sequences, model.config.max_len)
    out: np.ndarray = model.user_vectors(seqs, lengths).numpy()
    return out


@pytest.mark.parametrize(("layers", "hidden"), [(1, None), (2, 16)])
def test_stepping_matches_the_torch_model(layers: int, hidden: int | None) -> None:
    model = _model(layers, hidden)
    stepper = GRUStepper.from_model(model)
    embedding = model.item_vectors().detach().numpy()
    sequence = [3, 7, 7, 1, 29, 12, 5]
    state = stepper.initial()
    for t, item in enumerate(sequence, start=1):
        state = stepper.step(state, embedding[item])
        expected = _torch_user_vectors(model, [sequence[:t]])[0]
        np.testing.assert_allclose(stepper.output(state), expected, atol=1e-5)


def test_run_batch_equals_one_at_a_time() -> None:
    model = _model()
    stepper = GRUStepper.from_model(model)
    embedding = model.item_vectors().detach().numpy()
    sequences = [[1, 2, 3, 4], [5], [6, 7]]
    padded = np.zeros((3, 4, 8), np.float32)
    for row, seq in enumerate(sequences):
        padded[row, : len(seq)] = embedding[seq]
    states = stepper.run_batch(padded, np.array([4, 1, 2]))
    for row, seq in enumerate(sequences):
        np.testing.assert_allclose(states[row], stepper.run(embedding[seq]), atol=1e-6)
    np.testing.assert_allclose(
        stepper.output(states), _torch_user_vectors(model, sequences), atol=1e-5
    )


def test_bytes_round_trip_and_refusal() -> None:
    stepper = GRUStepper.from_model(_model(2, 16))
    again = GRUStepper.from_bytes(stepper.to_bytes())
    assert again.layers == 2 and again.hidden == 16 and again.dim == 8
    x = np.linspace(-1, 1, 8).astype(np.float32)
    np.testing.assert_array_equal(
        again.step(again.initial(), x), stepper.step(stepper.initial(), x)
    )
    with pytest.raises(ValueError, match="not a GRU step archive"):
        GRUStepper.from_bytes(b"definitely not npz")
