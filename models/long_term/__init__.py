"""Long-term interest: a GRU over item-id sequences, its training and its weights."""

from models.long_term.gru import PAD, GRUConfig, GRURecommender, pad_sequences
from models.long_term.training import (
    ProgressCallback,
    TrainConfig,
    TrainProgress,
    TrainReport,
    batch_loss,
    evaluate_next_item,
    grow_items,
    make_training_examples,
    resolve_device,
    train,
)
from models.long_term.weights import (
    WeightsChecksumError,
    model_from_bytes,
    model_to_bytes,
    sha256_hex,
)

__all__ = [
    "PAD",
    "GRUConfig",
    "GRURecommender",
    "ProgressCallback",
    "TrainConfig",
    "TrainProgress",
    "TrainReport",
    "WeightsChecksumError",
    "batch_loss",
    "evaluate_next_item",
    "grow_items",
    "make_training_examples",
    "model_from_bytes",
    "model_to_bytes",
    "pad_sequences",
    "resolve_device",
    "sha256_hex",
    "train",
]
