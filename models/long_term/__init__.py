"""Long-term interest: a GRU over item-id sequences and everything it takes to publish one.

``gru`` the network, ``training`` one training loop and full-ranking metrics,
``fit`` training with early stopping and the read-out of vectors, ``gate``
the bar a candidate must clear, ``refresh`` the trainer's refresh (fit, then
gate), ``vocabulary`` item ids ↔ rows, ``weights`` checksummed files.
"""

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
