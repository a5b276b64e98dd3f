"""Long-term model (de)serialisation to bytes, guarded by a SHA-256 checksum.

Nothing is unpickled: bytes load with ``torch.load(weights_only=True)`` and only
after their digest matches the one the registry published with them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from typing import Any

import torch

from models.long_term.gru import GRUConfig, GRURecommender

FORMAT_VERSION = 1


class WeightsChecksumError(ValueError):
    """The bytes are not the ones that were published: corrupt or tampered."""


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def model_to_bytes(model: GRURecommender, config: GRUConfig | None = None) -> bytes:
    """The model's config (a plain dict) and CPU weights, as ``torch.save`` bytes.

    ``config`` is optional and, when given, must be the model's own.
    """
    if config is not None and config != model.config:
        raise ValueError(f"config {config} is not the model's config {model.config}")
    state = {name: t.detach().cpu() for name, t in model.state_dict().items()}
    payload = {
        "format": FORMAT_VERSION,
        "config": dataclasses.asdict(model.config),
        "state_dict": state,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def model_from_bytes(
    data: bytes, expected_sha256: str, device: str | torch.device = "cpu"
) -> GRURecommender:
    """Rebuild a model from :func:`model_to_bytes` output after checking its digest.

    The model comes back in eval mode, ready to score.
    """
    actual = sha256_hex(data)
    if actual != expected_sha256.strip().lower():
        raise WeightsChecksumError(
            f"model weights checksum mismatch: expected sha256 {expected_sha256}, got {actual}"
        )
    payload: dict[str, Any] = torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    if payload.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported model format {payload.get('format')!r}")
    try:
        config = GRUConfig(**payload["config"])
    except TypeError as error:
        raise ValueError(f"model bytes carry an unknown config: {error}") from error
    model = GRURecommender(config)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval()
