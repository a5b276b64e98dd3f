"""One validated refresh of the long-term model, from users' item histories.

The trainer service and the evaluation harness both call :func:`refresh`: it
holds back each user's last item, trains a candidate (warm-started from the
current model when there is one), scores candidate and current on the held-back
items (NDCG@10, full ranking) and says whether the candidate may be published.
Without a current model the bar is the most-popular-items ranking.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from models.long_term.fit import (
    LongTermConfig,
    UserLongTerm,
    encode,
    read_long_term,
    refresh_long_term,
    training_sequences,
)
from models.long_term.gru import GRURecommender
from models.long_term.training import (
    ProgressCallback,
    TrainConfig,
    TrainReport,
    evaluate_next_item,
)
from models.ranking_metrics import ndcg_from_ranks

Histories = Mapping[str, Sequence[str]]


@dataclass
class Vocabulary:
    """Item ids ↔ the GRU's rows 1..n (0 is padding); only ever grows.

    >>> vocab = Vocabulary.grown(None, {"u": ["a", "b", "a"]})
    >>> vocab.encode(["b", "zz", "a"]), len(vocab)
    ([2, 1], 2)
    """

    ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def grown(cls, previous: Vocabulary | None, histories: Histories) -> Vocabulary:
        vocab = cls(list(previous.ids), dict(previous.rows)) if previous else cls()
        for items in histories.values():
            for item in items:
                if item not in vocab.rows:
                    vocab.ids.append(item)
                    vocab.rows[item] = len(vocab.ids)
        return vocab

    def get_index(self, item_id: str) -> int | None:
        """The 0-based table row (GRU id − 1), as item tables number them."""
        row = self.rows.get(item_id)
        return None if row is None else row - 1

    def encode(self, items: Sequence[str]) -> list[int]:
        """Rows of the known items, unknown ones dropped."""
        return [self.rows[i] for i in items if i in self.rows]


@dataclass(frozen=True)
class RefreshConfig:
    dim: int = 32
    max_len: int = 50
    dropout: float = 0.2
    k: int = 10
    min_steps: int = 300  # small catalogues still get enough optimizer steps
    patience: int = 3  # epochs without a better early-stopping score
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
    baseline: str  # "current" or "popularity"
    held_out_users: int

    @property
    def accepted(self) -> bool:
        return self.held_out_users > 0 and self.candidate_ndcg >= self.baseline_ndcg


def holdout(histories: Histories) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Users with 3+ items lose their last one to validation; the rest train whole.

    >>> holdout({"a": ["x", "y", "z"], "b": ["x", "y"]})
    ({'a': ['x', 'y'], 'b': ['x', 'y']}, {'a': 'z'})
    """
    train_part: dict[str, list[str]] = {}
    targets: dict[str, str] = {}
    for user, items in histories.items():
        if len(items) >= 3:
            train_part[user], targets[user] = list(items[:-1]), items[-1]
        else:
            train_part[user] = list(items)
    return train_part, targets


SequenceTransform = Callable[[dict[str, list[str]]], dict[str, list[str]]]


def refresh(
    histories: Histories,
    current: tuple[GRURecommender, Vocabulary] | None,
    config: RefreshConfig,
    progress: ProgressCallback | None = None,
    train_transform: SequenceTransform | None = None,
) -> RefreshResult:
    """Train and validate one candidate; nothing is published here.

    Every user's last item is held back. A fifth of those users (chosen by a
    stable hash) decide when training stops; the others are the gate's test.
    ``train_transform`` alters the training sequences only (never the
    held-back items): experiments and the gate's own tests use it.
    """
    train_part, targets = holdout(histories)
    vocab = Vocabulary.grown(current[1] if current else None, histories)
    stop_users, gate_users = _split(sorted(targets))
    sequences = train_transform(train_part) if train_transform else train_part

    def early_stop_score(model: GRURecommender) -> float:
        return _ndcg(
            model,
            vocab,
            [train_part[u] for u in stop_users],
            [targets[u] for u in stop_users],
            config.k,
        )

    trainable = training_sequences(encode(sequences, vocab).values(), config.max_len)
    training = _with_enough_epochs(config, len(trainable))
    trained = refresh_long_term(
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
    candidate = _ndcg(trained.model, vocab, gate_histories, gate_targets, config.k)
    if current is not None:
        baseline_name = "current"
        baseline = _ndcg(current[0], current[1], gate_histories, gate_targets, config.k)
    else:
        baseline_name = "popularity"
        baseline = _popularity_ndcg(train_part, gate_targets, config.k)
    return RefreshResult(
        trained.model, vocab, report, candidate, baseline, baseline_name, len(gate_users)
    )


def _split(users: list[str]) -> tuple[list[str], list[str]]:
    """(early-stopping users, gate users): a stable fifth / four fifths."""
    if len(users) < 10:
        return [], users
    stop = [u for u in users if zlib.crc32(u.encode()) % 5 == 0]
    chosen = set(stop)
    return stop, [u for u in users if u not in chosen]


def _with_enough_epochs(config: RefreshConfig, n_sequences: int) -> TrainConfig:
    """Raise the epoch count until training takes at least ``min_steps`` steps."""
    steps_per_epoch = max(1, math.ceil(n_sequences / config.train.batch_size))
    epochs = max(config.train.epochs, math.ceil(config.min_steps / steps_per_epoch))
    return replace(config.train, epochs=epochs)


def _ndcg(
    model: GRURecommender, vocab: Vocabulary, histories: list[list[str]], targets: list[str], k: int
) -> float:
    """NDCG@k over all held-out users; a target the model does not know is a miss."""
    known = [i for i, t in enumerate(targets) if t in vocab.rows]
    if not targets:
        return 0.0
    if not known:
        return 0.0
    metrics = evaluate_next_item(
        model,
        [vocab.encode(histories[i]) for i in known],
        [vocab.rows[targets[i]] for i in known],
        k=k,
    )
    return metrics["ndcg"] * len(known) / len(targets)


def _popularity_ndcg(train_part: Mapping[str, Sequence[str]], targets: list[str], k: int) -> float:
    counts = Counter(item for items in train_part.values() for item in items)
    order = {item: rank for rank, (item, _) in enumerate(counts.most_common())}
    ranks = np.array([order.get(t, len(order) + k) for t in targets], dtype=np.int64)
    return float(ndcg_from_ranks(ranks, k).mean()) if len(ranks) else 0.0


def item_vectors(model: GRURecommender, vocab: Vocabulary) -> dict[str, np.ndarray]:
    """Each known item's embedding, in the space user vectors score against."""
    with torch.no_grad():
        table = model.item_vectors().float().cpu().numpy()
    return {item: table[row].astype(np.float32) for item, row in vocab.rows.items()}


def user_long_term(model: GRURecommender, vocab: Vocabulary, histories: Histories) -> UserLongTerm:
    """Users' long-term vectors and the GRU states behind them, from their whole histories.

    Workers step the states on with each new event (:mod:`models.gru_step`).
    """
    return read_long_term(model, {u: vocab.encode(items) for u, items in histories.items()})
