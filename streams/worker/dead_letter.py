"""The dead-letter record: what was rejected, why, and where it came from."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected message, with enough to find and replay it.

    >>> DeadLetter("not JSON", b"{", "interactions", 0, 7).to_json()
    b'{"reason":"not JSON","raw":"ew==","topic":"interactions","partition":0,"offset":7}'
    """

    reason: str
    raw: bytes | None
    topic: str
    partition: int
    offset: int

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "reason": self.reason,
                "raw": base64.b64encode(self.raw or b"").decode("ascii"),
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
            }
        )

    @staticmethod
    def original_bytes(record: dict[str, object]) -> bytes:
        """The rejected message's value, from a decoded DLQ record."""
        return base64.b64decode(str(record["raw"]))
