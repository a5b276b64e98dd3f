"""Fit the long-term GRU on users' item sequences, with early stopping; read the vectors out.

The GRU knows items as ids 1..n (0 is padding). Here id ``row + 1`` is the
item at ``row`` of an item table, so ids stay stable while the table grows
(rows are append-only), a previous model warm-starts with
:func:`~models.long_term.grow_items`, and the returned item vectors line up
with the table's rows. :func:`fit` is the one training loop: the trainer's
refresh (:mod:`models.long_term.refresh`) and offline runs both call it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch

from models.gru_step import GRUStepper
from models.long_term import GRUConfig, GRURecommender, TrainConfig, grow_items, pad_sequences
from models.long_term.training import ProgressCallback, TrainProgress, train

Validator = Callable[[GRURecommender], float]
"""Higher is better (e.g. validation NDCG@10); called after every epoch."""


class ItemRows(Protocol):
    """What the refresh needs of an item table: ids by row, and row by id."""

    @property
    def ids(self) -> Sequence[str]: ...

    def get_index(self, item_id: str) -> int | None: ...


@dataclass(frozen=True)
class LongTermConfig:
    """The GRU's shape; ``n_items`` comes from the item table at each refresh."""

    dim: int = 64
    hidden: int | None = None
    layers: int = 1
    dropout: float = 0.2
    max_len: int = 50
    seed: int = 0
    windows: bool = True
    """Train on every ``max_len`` window of a long sequence, not only its last one."""
    embedding_dropout: float | None = None
    """See :class:`~models.long_term.GRUConfig` (``None``: ``dropout``)."""
    attention: int = 0
    """See :class:`~models.long_term.GRUConfig` (0: no attention layer)."""
    final_norm: bool = False
    """See :class:`~models.long_term.GRUConfig`."""

    def gru_config(self, n_items: int) -> GRUConfig:
        return GRUConfig(
            n_items, self.dim, self.hidden, self.layers, self.dropout, self.max_len, self.seed,
            self.embedding_dropout, self.attention, self.final_norm,
        )  # fmt: skip


@dataclass(frozen=True)
class LongTermRefresh:
    """A fitted model, its item vectors by table row and its users' vectors."""

    model: GRURecommender
    item_ids: list[str]
    item_vectors: np.ndarray
    user_vectors: dict[str, np.ndarray]
    user_states: dict[str, np.ndarray]
    """Each user's GRU state behind their vector: where per-event stepping goes on from."""
    stepper: GRUStepper
    epochs_run: int
    best_epoch: int | None
    seconds: float


def encode(sequences: Mapping[str, Sequence[str]], rows: ItemRows) -> dict[str, list[int]]:
    """Item ids → GRU ids (row + 1); items missing from the table are dropped.

    >>> from models.long_term.vocabulary import Vocabulary
    >>> encode({"u": ["b", "zz", "a"]}, Vocabulary.grown(None, {"v": ["a", "b"]}))
    {'u': [2, 1]}
    """
    out: dict[str, list[int]] = {}
    for user, items in sequences.items():
        found = (rows.get_index(item) for item in items)
        out[user] = [row + 1 for row in found if row is not None]
    return out


@torch.no_grad()
def user_vectors(
    model: GRURecommender, encoded: Mapping[str, Sequence[int]], batch_size: int = 2048
) -> dict[str, np.ndarray]:
    """Each non-empty sequence's long-term vector (the GRU output after its last item)."""
    model.eval()
    device = model.item_vectors().device
    users = [u for u, seq in encoded.items() if len(seq)]
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(users), batch_size):
        chunk = users[start : start + batch_size]
        seqs, lengths = pad_sequences([encoded[u] for u in chunk], model.config.max_len)
        vectors = model.user_vectors(seqs.to(device), lengths).float().cpu().numpy()
        out.update(zip(chunk, vectors, strict=True))
    return out


@dataclass(frozen=True)
class UserLongTerm:
    """Users' GRU states, the stepper they were made with, and their read-out vectors."""

    stepper: GRUStepper
    states: dict[str, np.ndarray]
    vectors: dict[str, np.ndarray]


def read_long_term(
    model: GRURecommender, encoded: Mapping[str, Sequence[int]], batch_size: int = 2048
) -> UserLongTerm:
    """Each non-empty sequence's GRU state after its last ``max_len`` items, and its vector.

    Made by the same :class:`~models.gru_step.GRUStepper` workers step with,
    so the state a worker goes on from is exactly the one published; the
    vectors equal :func:`user_vectors` (to float rounding).
    """
    stepper = GRUStepper.from_model(model.eval())
    with torch.no_grad():
        embedding = model.item_vectors().float().cpu().numpy()
    users = [u for u, seq in encoded.items() if len(seq)]
    out = UserLongTerm(stepper, {}, {})
    for start in range(0, len(users), batch_size):
        chunk = users[start : start + batch_size]
        seqs, lengths = pad_sequences([encoded[u] for u in chunk], model.config.max_len)
        states = stepper.run_batch(embedding[seqs.numpy()], lengths.numpy())
        out.states.update(zip(chunk, states, strict=True))
        out.vectors.update(zip(chunk, stepper.output(states), strict=True))
    return out


def training_sequences(encoded: Iterable[Sequence[int]], window: int | None) -> list[list[int]]:
    """Sequences with a next item; with ``window``, cut into pieces of ``window + 1`` items
    that overlap by one, from the end, so every transition is trained exactly once.

    >>> training_sequences([[1, 2, 3, 4, 5, 6], [7]], window=2)
    [[4, 5, 6], [2, 3, 4], [1, 2]]
    >>> training_sequences([[1, 2, 3], [7]], window=None)
    [[1, 2, 3]]
    """
    out: list[list[int]] = []
    for seq in encoded:
        seq = list(seq)
        if window is None:
            out += [seq] if len(seq) >= 2 else []
            continue
        end = len(seq)
        while end >= 2:
            out.append(seq[max(0, end - window - 1) : end])
            end -= window
    return out


def item_vectors(model: GRURecommender, n_rows: int) -> np.ndarray:
    """The GRU's item embeddings for table rows ``0..n_rows-1`` (float32, n_rows×dim)."""
    weights = model.item_vectors().detach().float().cpu().numpy()
    vectors: np.ndarray = np.ascontiguousarray(weights[1 : n_rows + 1], dtype=np.float32)
    return vectors


def warm_start(
    previous: GRURecommender | None, config: LongTermConfig, n_items: int
) -> GRURecommender:
    """``previous`` grown to ``n_items`` when its shape fits, else a fresh model."""
    fresh = config.gru_config(n_items)
    if previous is None or previous.config.n_items > n_items:
        return GRURecommender(fresh)
    if replace(previous.config, n_items=n_items) != fresh:
        return GRURecommender(fresh)
    return grow_items(previous, n_items, seed=config.seed)


def fit(
    sequences: Mapping[str, Sequence[str]],
    rows: ItemRows,
    config: LongTermConfig,
    training: TrainConfig,
    previous: GRURecommender | None = None,
    validate: Validator | None = None,
    patience: int = 3,
    progress: ProgressCallback | None = None,
    vector_users: Iterable[str] | None = None,
    validate_every: int = 1,
) -> LongTermRefresh:
    """Train on ``sequences`` (user → item ids in time order) and read the vectors out.

    With ``validate``, training stops after ``patience`` validations without a
    better score and the best epoch's weights are kept; it validates every
    ``validate_every`` epochs (and after the last). Vectors are made for
    ``vector_users`` (default: every user in ``sequences``).
    """
    started = time.perf_counter()
    encoded = encode(sequences, rows)
    model = warm_start(previous, config, max(len(rows.ids), 1))
    trainable = training_sequences(encoded.values(), config.max_len if config.windows else None)
    epochs_run, best_epoch = 0, None
    if trainable:
        epochs_run, best_epoch = _train(
            model, trainable, training, validate, patience, progress, validate_every
        )
    model.eval()
    wanted = encoded if vector_users is None else {u: encoded.get(u, []) for u in vector_users}
    users = read_long_term(model, wanted)
    return LongTermRefresh(
        model,
        list(rows.ids),
        item_vectors(model, len(rows.ids)),
        users.vectors,
        users.states,
        users.stepper,
        epochs_run,
        best_epoch,
        time.perf_counter() - started,
    )


class _EnoughEpochs(Exception):
    """Raised from the progress callback to end training early."""


@dataclass
class _Best:
    score: float = -np.inf
    epoch: int | None = None
    state: dict[str, torch.Tensor] | None = None
    epochs_run: int = 0


def _train(
    model: GRURecommender,
    sequences: list[list[int]],
    training: TrainConfig,
    validate: Validator | None,
    patience: int,
    progress: ProgressCallback | None,
    every: int = 1,
) -> tuple[int, int | None]:
    """Train; with ``validate``, keep the best epoch. Returns (epochs run, best epoch)."""
    best = _Best()
    # One-cycle warm-up epochs are not candidates: not yet trained at the full rate, one of them
    # can still score best by chance on a small early-stopping set (seen on 7 users).
    first = math.ceil(training.warmup * training.epochs) if training.schedule == "onecycle" else 0

    def on_progress(report: TrainProgress) -> None:
        if progress is not None:
            progress(report)
        if report.step != report.steps_per_epoch:
            return
        best.epochs_run = report.epoch + 1
        last = report.epoch == training.epochs - 1
        if validate is None or report.epoch < min(first, training.epochs - 1):
            return
        if (report.epoch + 1) % every and not last:
            return
        score = validate(model)
        if score > best.score:
            best.score, best.epoch = score, report.epoch
            best.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif report.epoch - (best.epoch if best.epoch is not None else -1) >= patience * every:
            raise _EnoughEpochs

    # train() takes no stopping rule; a callback that raises is how it stops early.
    with contextlib.suppress(_EnoughEpochs):
        train(model, sequences, training, on_progress)
    if best.state is not None:
        model.load_state_dict(best.state)
    return best.epochs_run, best.epoch
