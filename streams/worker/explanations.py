"""The compact ``why`` field of a recommendation message.

``{"long": [0.62, 0.1, ...], "near": ["c1-i4", null, ...]}``, aligned with
``items``: each item's share of its score from the long-term part (two
decimals; the short-term share is the rest) and the user's recent item most
like it (null when none is known). Two arrays rather than a field per item:
the message stays about a third larger instead of twice as large, and building
it costs two list conversions per user, not a dict per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from models.explain import Explanations


def explanation_field(
    why: Explanations, row: int, ids: Sequence[str], count: int
) -> dict[str, list[Any]]:
    """``why`` of one user's message, for the first ``count`` ranked items (padding dropped)."""
    nearest = why.nearest[row, :count].tolist()
    return {
        "long": np.round(why.long_share[row, :count].astype(np.float64), 2).tolist(),
        "near": [ids[n] if n >= 0 else None for n in nearest],
    }
