"""The dead-letter record: what was rejected, why, and where it came from.

A dead letter carries the rejected bytes (base64), which can make it larger
than the message it reports: ``raw`` is capped, and the original's size and
SHA-256 always travel with it, so every dead letter fits the producer's limit.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import orjson

MAX_REASON_CHARS = 1000
"""A reason is a sentence; an exception text longer than this is cut."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected message, with enough to find and replay it.

    >>> DeadLetter("not JSON", b"{", "interactions", 0, 7, max_raw_bytes=4).to_json()[:60]
    b'{"reason":"not JSON","raw":"ew==","raw_bytes":1,"raw_sha256"'
    >>> letter = DeadLetter("big", b"abcdef", "t", 0, 1, max_raw_bytes=4)
    >>> orjson.loads(letter.to_json())["truncated"]
    True
    """

    reason: str
    raw: bytes | None
    topic: str
    partition: int
    offset: int
    max_raw_bytes: int = 65536

    def to_json(self) -> bytes:
        raw = self.raw or b""
        kept = raw[: self.max_raw_bytes]
        return orjson.dumps(
            {
                "reason": self.reason[:MAX_REASON_CHARS],
                "raw": base64.b64encode(kept).decode("ascii"),
                "raw_bytes": len(raw),
                "raw_sha256": hashlib.sha256(raw).hexdigest(),
                "truncated": len(kept) < len(raw),
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
            }
        )

    @staticmethod
    def original_bytes(record: dict[str, object]) -> bytes:
        """The rejected message's value (its first ``max_raw_bytes``), from a decoded DLQ record."""
        return base64.b64decode(str(record["raw"]))
