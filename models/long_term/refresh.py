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
    ItemRows,
    LongTermConfig,
    LongTermRefresh,
    UserLongTerm,
    Validator,
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
    "TrainingPlan",
    "Vocabulary",
    "fit_as_trainer",
    "item_vectors",
    "refresh",
    "training_plan",
    "user_long_term",
]

SequenceTransform = Callable[[dict[str, list[str]]], dict[str, list[str]]]


@dataclass(frozen=True)
class RefreshConfig:
    dim: int = 32
    max_len: int = 50
    dropout: float = 0.2
    k: int = 10
    min_steps: int = 100  # small catalogues and young streams still get enough optimizer steps
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


@dataclass(frozen=True)
class TrainingPlan:
    """How the trainer trains on some histories: what it holds back, for what, and for how long.

    Shared by :func:`refresh` and the evaluation harness
    (:func:`fit_as_trainer`), so the harness's GRU trains exactly as the
    service's does.
    """

    train_part: dict[str, list[str]]
    """Every history less the last item of those with 3+ (the held-back items)."""
    sequences: dict[str, list[str]]
    """What the GRU trains on: ``train_part``, altered by a transform if one was given."""
    targets: dict[str, str]
    stop_users: list[str]
    """Users whose held-back item decides when training stops (a fifth; none below 10)."""
    gate_users: list[str]
    training: TrainConfig
    patience: int
    """Validations without a better score before training stops."""
    validate_every: int
    """Epochs per validation: 1, or as many as the step floor multiplied them by, so a run
    raised to ``min_steps`` is validated (and may stop) as often as an unraised one."""

    def early_stop_score(self, vocab: Vocabulary, k: int) -> Validator | None:
        """NDCG@k on the stop users' held-back items; None without stop users."""
        if not self.stop_users:
            return None
        histories = [self.train_part[u] for u in self.stop_users]
        targets = [self.targets[u] for u in self.stop_users]
        return lambda model: model_ndcg(model, vocab, histories, targets, k)


def training_plan(
    histories: Histories,
    config: RefreshConfig,
    train_transform: SequenceTransform | None = None,
) -> TrainingPlan:
    """Hold back, split the users and size the training for ``histories``.

    ``train_transform`` alters the training sequences only (never the
    held-back items). Epochs are raised until training takes ``min_steps``
    optimizer steps; such a run validates once per as many epochs as the
    floor multiplied them by (its epochs are tiny).
    """
    train_part, targets = holdout(histories)
    stop_users, gate_users = split_users(sorted(targets))
    sequences = train_transform(train_part) if train_transform else train_part
    # Windows are what a step batches; count them over the vocabulary-free encoding.
    lengths = [len(items) for items in sequences.values()]
    trainable = training_sequences((range(n) for n in lengths), config.max_len)
    training = _with_enough_epochs(config, len(trainable))
    every = math.ceil(training.epochs / max(config.train.epochs, 1))
    return TrainingPlan(
        train_part, sequences, targets, stop_users, gate_users, training, config.patience, every
    )


def fit_as_trainer(
    histories: Histories,
    rows: ItemRows,
    current: GRURecommender | None,
    config: RefreshConfig,
    long_term: LongTermConfig | None = None,
) -> LongTermRefresh:
    """Fit as :func:`refresh` does (held-back items, step floor, early stopping), with every
    user's vectors read from their whole history, as the trainer publishes them.

    For the evaluation harness, whose item rows are its catalogue; the gate is
    not applied (the harness measures every refresh). ``long_term`` overrides
    the GRU's shape (``config`` gives dim, dropout and length only).
    """
    plan = training_plan(histories, config)
    vocab = Vocabulary(list(rows.ids), {item: n + 1 for n, item in enumerate(rows.ids)})
    fitted = fit(
        plan.sequences,
        rows,
        long_term or config.long_term_config(),
        plan.training,
        previous=current,
        validate=plan.early_stop_score(vocab, config.k),
        patience=plan.patience,
        vector_users=[],
        validate_every=plan.validate_every,
    )
    users = read_long_term(fitted.model, encode(histories, rows))
    return replace(
        fitted, user_vectors=users.vectors, user_states=users.states, stepper=users.stepper
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
    plan = training_plan(histories, config, train_transform)
    vocab = Vocabulary.grown(current[1] if current else None, histories)
    trained = fit(
        plan.sequences,
        vocab,
        config.long_term_config(),
        plan.training,
        previous=current[0] if current else None,
        validate=plan.early_stop_score(vocab, config.k),
        patience=plan.patience,
        progress=progress,
        vector_users=[],
        validate_every=plan.validate_every,
    )
    trainable = training_sequences(encode(plan.sequences, vocab).values(), config.max_len)
    positions = sum(len(s) - 1 for s in trainable) * trained.epochs_run
    report = TrainReport(
        positions,
        positions / max(trained.seconds, 1e-9),
        float("nan"),
        trained.epochs_run,
        str(trained.model.item_vectors().device),
        trained.seconds,
    )
    train_part, targets = plan.train_part, plan.targets
    gate_histories = [train_part[u] for u in plan.gate_users]
    gate_targets = [targets[u] for u in plan.gate_users]
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
        len(plan.gate_users),
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
