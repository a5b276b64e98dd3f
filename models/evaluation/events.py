"""The evaluator's view of an event stream: plain records, no I/O.

``streams`` turns data files and synthetic users into these; every protocol
in this package consumes them in replay order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One interaction in replay order; ``event_type`` keys the event weights."""

    user_id: str
    item_id: str
    event_type: str
    ts: float


@dataclass(frozen=True, slots=True)
class DriftEvent:
    """A synthetic event with its ground truth: the user's category when acting."""

    event: StreamEvent
    category: int
    switched: bool
