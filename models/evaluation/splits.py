"""Leave-one-out split: each user's last item is the test target, the one before validation.

Users with fewer than 3 items have no room for a training prefix, a
validation item and a test item: they stay in training, whole, and are not
evaluated (the SASRec/S3Rec convention).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MIN_EVALUATED_LENGTH = 3


@dataclass(frozen=True, slots=True)
class LeaveOneOut:
    """Per-user training prefix, validation target and test target."""

    train: dict[str, list[str]]
    validation: dict[str, str]
    test: dict[str, str]

    @property
    def evaluated(self) -> list[str]:
        """Users with a validation and a test target, in input order."""
        return list(self.test)

    def validation_history(self, user: str) -> list[str]:
        """What the model knows when predicting the validation item."""
        return self.train[user]

    def test_history(self, user: str) -> list[str]:
        """What the model knows when predicting the test item: training plus validation."""
        return [*self.train[user], self.validation[user]]


def leave_one_out(sequences: Mapping[str, Sequence[str]]) -> LeaveOneOut:
    """Split every user's time-ordered items.

    >>> split = leave_one_out({"u": ["a", "b", "c", "d"], "short": ["x", "y"]})
    >>> split.train, split.validation, split.test
    ({'u': ['a', 'b'], 'short': ['x', 'y']}, {'u': 'c'}, {'u': 'd'})
    >>> split.test_history("u")
    ['a', 'b', 'c']
    """
    train: dict[str, list[str]] = {}
    validation: dict[str, str] = {}
    test: dict[str, str] = {}
    for user, items in sequences.items():
        if len(items) < MIN_EVALUATED_LENGTH:
            train[user] = list(items)
            continue
        train[user] = list(items[:-2])
        validation[user] = items[-2]
        test[user] = items[-1]
    return LeaveOneOut(train, validation, test)
