"""The numpy GRU step reproduces the trained torch GRU exactly, one event at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.gru_step import GRUStepper
from models.long_term import GRUConfig, GRURecommender, pad_sequences


def _model(
    layers: int = 1, hidden: int | None = None, attention: int = 0, final_norm: bool = False
) -> GRURecommender:
    config = GRUConfig(
        n_items=30, dim=8, hidden=hidden, layers=layers, max_len=12, seed=3,
        attention=attention, final_norm=final_norm,
    )  # fmt: skip
    model = GRURecommender(config).eval()
    if model.norm is not None:  # away from LayerNorm's identity start, so it is tested
        with torch.no_grad():
            model.norm.weight.uniform_(0.5, 1.5)
            model.norm.bias.uniform_(-0.2, 0.2)
    return model


@torch.no_grad()
def _torch_user_vectors(model: GRURecommender, sequences: list[list[int]]) -> np.ndarray:
    seqs, lengths = pad_sequences(sequences, model.config.max_len)
    out: np.ndarray = model.user_vectors(seqs, lengths).numpy()
    return out


@pytest.mark.parametrize(
    ("layers", "hidden", "attention", "final_norm"),
    [(1, None, 0, False), (2, 16, 0, False), (1, None, 3, False), (1, None, 0, True),
     (2, 16, 3, True)],
)  # fmt: skip
def test_stepping_matches_the_torch_model(
    layers: int, hidden: int | None, attention: int, final_norm: bool
) -> None:
    """Attention windows of 3 over 7 items: the stepper's window slides as the model's does."""
    model = _model(layers, hidden, attention, final_norm)
    stepper = GRUStepper.from_model(model)
    embedding = model.item_vectors().detach().numpy()
    sequence = [3, 7, 7, 1, 29, 12, 5]
    state = stepper.initial()
    for t, item in enumerate(sequence, start=1):
        state = stepper.step(state, embedding[item])
        expected = _torch_user_vectors(model, [sequence[:t]])[0]
        np.testing.assert_allclose(stepper.output(state), expected, atol=1e-5)


@pytest.mark.parametrize("attention", [0, 3])
def test_run_batch_equals_one_at_a_time(attention: int) -> None:
    model = _model(attention=attention)
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


def test_attention_and_norm_round_trip_and_state_rows() -> None:
    stepper = GRUStepper.from_model(_model(2, 16, attention=3, final_norm=True))
    assert stepper.rows == 5 and stepper.initial().shape == (5, 16)
    again = GRUStepper.from_bytes(stepper.to_bytes())
    assert again.window == 3 and again.norm is not None
    items = np.linspace(-1, 1, 40).astype(np.float32).reshape(5, 8)
    np.testing.assert_array_equal(again.run(items), stepper.run(items))
    np.testing.assert_array_equal(
        again.output(again.run(items)), stepper.output(stepper.run(items))
    )
    assert np.isfinite(stepper.output(stepper.initial())).all()  # nothing to attend to yet
    plain = GRUStepper.from_bytes(GRUStepper.from_model(_model()).to_bytes())
    assert plain.window == 0 and plain.norm is None and plain.rows == 1


def test_default_model_is_unchanged_by_the_options() -> None:
    """Options off: the same weights as before they existed (they are made after the rest)."""
    plain = _model().state_dict()
    with_options = _model(attention=3, final_norm=True).state_dict()
    for name, tensor in plain.items():
        assert torch.equal(tensor, with_options[name]), name
