"""The published GRU, one event at a time, in numpy: what keeps long-term interest fresh.

A refresh trains the GRU over whole histories; between refreshes a worker
steps the same recurrence once per event from the user's stored hidden
state, so a user's long-term vector follows their latest item instead of
waiting for the next refresh. Eval mode (no dropout), float32, any batch.

The input of a step is the item's vector (the GRU's tied embedding, or any
vector in that space, e.g. a cold-start item's projection), so a worker
needs no id vocabulary to step, nor torch.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # workers step without importing torch
    import torch

    from models.long_term.gru import GRURecommender

_ARRAYS = ("w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out")
_ATTENTION = ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v")
_NORM = ("norm_w", "norm_b")
_NORM_EPS = 1e-5
"""``torch.nn.LayerNorm``'s default epsilon, which the trainer's model uses."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic
    return out


class GRUStepper:
    """Per-layer GRU weights (PyTorch's gate order r, z, n) and the output projection.

    A user's state is a ``rows × hidden`` array (:attr:`rows`): the ``layers``
    GRU states, then, for a model with a windowed attention layer, the top
    layer's last ``window`` outputs, oldest first (all-zero rows: no output
    yet, never attended). :meth:`output` reads it out as a vector in item
    space, the GRU's user vector.
    """

    def __init__(
        self,
        w_ih: Sequence[np.ndarray],
        w_hh: Sequence[np.ndarray],
        b_ih: Sequence[np.ndarray],
        b_hh: Sequence[np.ndarray],
        w_out: np.ndarray,
        b_out: np.ndarray,
        attention: tuple[int, Sequence[np.ndarray]] | None = None,
        norm: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``attention``: (window, torch-layout query, key, value weights and biases
        ``w_q, b_q, w_k, b_k, w_v, b_v``); ``norm``: the LayerNorm's weight and bias."""
        if not (len(w_ih) == len(w_hh) == len(b_ih) == len(b_hh)) or not w_ih:
            raise ValueError("every layer needs w_ih, w_hh, b_ih and b_hh")
        self.w_ih = [np.ascontiguousarray(w.T, np.float32) for w in w_ih]
        self.w_hh = [np.ascontiguousarray(w.T, np.float32) for w in w_hh]
        self.b_ih = [np.asarray(b, np.float32) for b in b_ih]
        self.b_hh = [np.asarray(b, np.float32) for b in b_hh]
        self.w_out = np.ascontiguousarray(np.asarray(w_out, np.float32).T)
        self.b_out = np.asarray(b_out, np.float32)
        self.hidden = self.w_hh[0].shape[0]
        self.dim = self.w_ih[0].shape[0]
        self.window = 0 if attention is None else int(attention[0])
        if attention is not None and (self.window < 1 or len(attention[1]) != len(_ATTENTION)):
            raise ValueError("attention needs a window >= 1 and w_q, b_q, w_k, b_k, w_v, b_v")
        self.attention = (
            []
            if attention is None
            else [
                np.ascontiguousarray(a.T if a.ndim == 2 else a, np.float32)
                for a in map(np.asarray, attention[1])
            ]
        )
        self.norm = None if norm is None else tuple(np.asarray(a, np.float32) for a in norm)

    @property
    def layers(self) -> int:
        return len(self.w_ih)

    @property
    def rows(self) -> int:
        """Rows of a user's state: the GRU layers, then the attention window's outputs."""
        return self.layers + self.window

    @classmethod
    def from_model(cls, model: GRURecommender) -> GRUStepper:
        gru, layers = model.gru, model.config.layers

        def get(name: str) -> list[np.ndarray]:
            return [
                getattr(gru, f"{name}_l{i}").detach().float().cpu().numpy() for i in range(layers)
            ]

        def array(tensor: torch.Tensor) -> np.ndarray:
            out: np.ndarray = tensor.detach().float().cpu().numpy()
            return out

        attention = None
        if model.attention is not None:
            layer = model.attention
            parts = (layer.query, layer.key, layer.value)
            weights = [array(t) for part in parts for t in (part.weight, part.bias)]
            attention = (layer.window, weights)
        norm = None if model.norm is None else (array(model.norm.weight), array(model.norm.bias))
        projection = model.projection
        return cls(
            get("weight_ih"),
            get("weight_hh"),
            get("bias_ih"),
            get("bias_hh"),
            array(projection.weight),
            array(projection.bias),
            attention,
            norm,
        )

    def initial(self, batch: int | None = None) -> np.ndarray:
        """The state before any event: zeros, as the GRU starts every sequence."""
        shape = (self.rows, self.hidden) if batch is None else (batch, self.rows, self.hidden)
        return np.zeros(shape, np.float32)

    def step(self, state: np.ndarray, item: np.ndarray) -> np.ndarray:
        """The state after one more item; ``state`` is (rows, hidden) or (B, rows, hidden)."""
        single = state.ndim == 2
        h_all = state[None] if single else state
        x = np.asarray(item, np.float32).reshape(h_all.shape[0], -1)
        new = np.empty_like(h_all, dtype=np.float32)
        for layer in range(self.layers):
            h = h_all[:, layer]
            gi = x @ self.w_ih[layer] + self.b_ih[layer]
            gh = h @ self.w_hh[layer] + self.b_hh[layer]
            n_h = self.hidden
            r = _sigmoid(gi[:, :n_h] + gh[:, :n_h])
            z = _sigmoid(gi[:, n_h : 2 * n_h] + gh[:, n_h : 2 * n_h])
            n = np.tanh(gi[:, 2 * n_h :] + r * gh[:, 2 * n_h :])
            x = (1.0 - z) * n + z * h
            new[:, layer] = x
        if self.window:  # the window moves on by one: the oldest output out, this one in
            new[:, self.layers : -1] = h_all[:, self.layers + 1 :]
            new[:, -1] = x
        return new[0] if single else new

    def output(self, state: np.ndarray) -> np.ndarray:
        """The user vector in item space: the projection of the top layer's (attended) output."""
        top = state[..., self.layers - 1, :]
        if self.window:
            top = top + self._attend(top, state[..., self.layers :, :])
        if self.norm is not None:
            mean = top.mean(axis=-1, keepdims=True)
            var = ((top - mean) ** 2).mean(axis=-1, keepdims=True)
            top = (top - mean) / np.sqrt(var + _NORM_EPS) * self.norm[0] + self.norm[1]
        out: np.ndarray = top @ self.w_out + self.b_out
        return out

    def _attend(self, top: np.ndarray, window: np.ndarray) -> np.ndarray:
        """The attention layer's output at the latest position (``top``: ..., hidden)."""
        w_q, b_q, w_k, b_k, w_v, b_v = self.attention
        query = top @ w_q + b_q
        keys, values = window @ w_k + b_k, window @ w_v + b_v
        scores = np.einsum("...kh,...h->...k", keys, query) / np.sqrt(np.float32(self.hidden))
        valid = np.any(window != 0.0, axis=-1)  # a state before any event attends to nothing
        peak = np.where(valid, scores, -np.inf).max(axis=-1, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        weights = np.where(valid, np.exp(np.where(valid, scores, peak) - peak), 0.0)
        weights /= np.maximum(weights.sum(axis=-1, keepdims=True), np.finfo(np.float32).tiny)
        out: np.ndarray = np.einsum("...k,...kh->...h", weights, values)
        return out

    def run(self, items: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        """The state after ``items`` (T × dim, oldest first), from ``state`` or zeros."""
        current = self.initial() if state is None else state
        for item in np.asarray(items, np.float32):
            current = self.step(current, item)
        return current

    def run_batch(self, items: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """States after right-padded sequences (B × T × dim) of the given lengths."""
        states = self.initial(items.shape[0])
        for t in range(items.shape[1]):
            live = lengths > t
            if not live.any():
                break
            states[live] = self.step(states[live], items[live, t])
        return states

    def to_bytes(self) -> bytes:
        """A numpy ``.npz`` archive (no pickle), what the trainer publishes to Redis."""
        buffer = io.BytesIO()
        arrays: dict[str, np.ndarray] = {"w_out": self.w_out.T, "b_out": self.b_out}
        for name in _ARRAYS[:4]:
            for layer, array in enumerate(getattr(self, name)):
                arrays[f"{name}_{layer}"] = array.T if name.startswith("w") else array
        if self.window:  # only then: an archive without attention reads as before
            arrays["window"] = np.array(self.window)
            for name, array in zip(_ATTENTION, self.attention, strict=True):
                arrays[name] = array.T if array.ndim == 2 else array
        if self.norm is not None:
            arrays.update(zip(_NORM, self.norm, strict=True))
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> GRUStepper:
        """Inverse of :meth:`to_bytes`; raises ValueError on anything else."""
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
                layers = sum(1 for name in archive.files if name.startswith("w_ih_"))
                per_layer = {
                    name: [archive[f"{name}_{i}"] for i in range(layers)] for name in _ARRAYS[:4]
                }
                attention = None
                if "window" in archive.files:
                    attention = (int(archive["window"]), [archive[n] for n in _ATTENTION])
                norm = None
                if _NORM[0] in archive.files:
                    norm = (archive[_NORM[0]], archive[_NORM[1]])
                return cls(
                    **per_layer,
                    w_out=archive["w_out"],
                    b_out=archive["b_out"],
                    attention=attention,
                    norm=norm,
                )
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"not a GRU step archive: {exc}") from exc
