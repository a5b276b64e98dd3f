"""The compact ``why`` field of each recommended item in a recommendation message.

``{"long": 0.62, "short": 0.38, "near": "c1-i4"}``: the shares of the item's
score from the long- and short-term parts (two decimals, summing to 1), and the
user's recent item most like it (absent when the user has none in the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.explain import Explanations


def add_explanations(
    items: list[dict[str, Any]], why: Explanations, row: int, ids: Sequence[str]
) -> None:
    """Adds ``why`` to each of one user's ``items`` (in the order ranked, padding dropped)."""
    shares = why.long_share[row].tolist()
    nearest = why.nearest[row].tolist()
    for col, item in enumerate(items):
        long_share = round(shares[col], 2)
        reason: dict[str, Any] = {"long": long_share, "short": round(1.0 - long_share, 2)}
        if nearest[col] >= 0:
            reason["near"] = ids[nearest[col]]
        item["why"] = reason
