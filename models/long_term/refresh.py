"""One refresh of the long-term model for the trainer service: train, then judge.

:func:`refresh` holds back each user's last item, fits a candidate on the rest
(warm-started from the current model when there is one; :mod:`.fit`) and
scores candidate and bar on the held-back items (:mod:`.gate`). Nothing is
published here; :attr:`RefreshResult.accepted` says whether it may be.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from models.long_term.fit import (
    LongTermConfig,
    UserLongTerm,
    encode,
    fit,
    read_long_term,
    training_sequences,
)
from models.long_term.fit import item_vectors as table_item_vectors
from models.long_term.gate import (
    Baseline,
    holdout,
    model_ndcg,
    passes,
    popularity_ndcg,
    split_users,
)
from models.long_term.gru import GRURecommender
from models.long_term.training import ProgressCallback, TrainConfig, TrainReport
from models.long_term.vocabulary import Histories, Vocabulary

__all__ = [
    "RefreshConfig",
    "RefreshResult",
    "SequenceTransform",
    "Vocabulary",
    "item_vectors",
    "refresh",
    "user_long_term",
]

SequenceTransform = Callable[[dict[str, list[str]]], dict[str, list[str]]]


@dataclass(frozen=True)
class RefreshConfig:
    dim: int = 32
    max_len: int = 50
    dropout: float = 0.2
    k: int = 10
    min_steps: int = 300  # small catalogues still get enough optimizer steps
    patience: int = 3  # epochs without a better early-stopping score
    gate_slack: float = 0.0  # NDCG a candidate may fall short of its bar by (see gate.passes)
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)

    def long_term_config(self) -> LongTermConfig:
        return LongTermConfig(
            dim=self.dim, dropout=self.dropout, max_len=self.max_len, seed=self.seed
        )


@dataclass
class RefreshResult:
    """The candidate and the figures the publication gate saw."""

    model: GRURecommender
    vocab: Vocabulary
    report: TrainReport
    candidate_ndcg: float
    baseline_ndcg: float
    baseline: Baseline
    held_out_users: int
    best_epoch: int | None = None
    """The epoch whose weights were kept (0-based); None without early stopping."""
    gate_slack: float = 0.0

    @property
    def accepted(self) -> bool:
        """See :func:`models.long_term.gate.passes`."""
        return passes(
            self.candidate_ndcg,
            self.baseline_ndcg,
            self.baseline,
            self.held_out_users,
            self.gate_slack,
        )


def refresh(
    histories: Histories,
    current: tuple[GRURecommender, Vocabulary] | None,
    config: RefreshConfig,
    progress: ProgressCallback | None = None,
    train_transform: SequenceTransform | None = None,
) -> RefreshResult:
    """Train and validate one candidate; nothing is published here.

    ``train_transform`` alters the training sequences only (never the
    held-back items): experiments and the gate's own tests use it.
    """
    train_part, targets = holdout(histories)
    vocab = Vocabulary.grown(current[1] if current else None, histories)
    stop_users, gate_users = split_users(sorted(targets))
    sequences = train_transform(train_part) if train_transform else train_part

    def early_stop_score(model: GRURecommender) -> float:
        stop_histories = [train_part[u] for u in stop_users]
        return model_ndcg(model, vocab, stop_histories, [targets[u] for u in stop_users], config.k)

    trainable = training_sequences(encode(sequences, vocab).values(), config.max_len)
    training = _with_enough_epochs(config, len(trainable))
    trained = fit(
        sequences,
        vocab,
        config.long_term_config(),
        training,
        previous=current[0] if current else None,
        validate=early_stop_score if stop_users else None,
        # Epochs raised for a small catalogue are tiny: no early stop before min_steps.
        patience=config.patience if training.epochs == config.train.epochs else training.epochs,
        progress=progress,
        vector_users=[],
    )
    positions = sum(len(s) - 1 for s in trainable) * trained.epochs_run
    report = TrainReport(
        positions,
        positions / max(trained.seconds, 1e-9),
        float("nan"),
        trained.epochs_run,
        str(trained.model.item_vectors().device),
        trained.seconds,
    )
    gate_histories = [train_part[u] for u in gate_users]
    gate_targets = [targets[u] for u in gate_users]
    candidate = model_ndcg(trained.model, vocab, gate_histories, gate_targets, config.k)
    baseline: Baseline
    if current is not None:
        baseline = "current"
        bar = model_ndcg(current[0], current[1], gate_histories, gate_targets, config.k)
    else:
        baseline = "popularity"
        bar = popularity_ndcg(train_part, gate_targets, config.k)
    return RefreshResult(
        trained.model,
        vocab,
        report,
        candidate,
        bar,
        baseline,
        len(gate_users),
        trained.best_epoch,
        config.gate_slack,
    )


def _with_enough_epochs(config: RefreshConfig, n_sequences: int) -> TrainConfig:
    """Raise the epoch count until training takes at least ``min_steps`` steps."""
    steps_per_epoch = max(1, math.ceil(n_sequences / config.train.batch_size))
    epochs = max(config.train.epochs, math.ceil(config.min_steps / steps_per_epoch))
    return replace(config.train, epochs=epochs)


def item_vectors(model: GRURecommender, vocab: Vocabulary) -> dict[str, np.ndarray]:
    """Each known item's embedding, in the space user vectors score against."""
    return dict(zip(vocab.ids, table_item_vectors(model, len(vocab)), strict=True))


def user_long_term(model: GRURecommender, vocab: Vocabulary, histories: Histories) -> UserLongTerm:
    """Users' long-term vectors and the GRU states behind them, from their whole histories.

    Workers step the states on with each new event (:mod:`models.gru_step`).
    """
    return read_long_term(model, {u: vocab.encode(items) for u, items in histories.items()})
