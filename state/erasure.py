"""The erasure fence ``forget`` leaves on a user: which events came before the erasure.

``forget`` deletes a user's keys and stores a fence (a short-lived string, see
``forget_user.lua``) holding a unique id and the end offset of every partition
of the events topic at that moment. Events below those offsets were in the
log before the erasure: a worker skips them for this user, whether they were
in a batch in flight, not yet consumed, or replayed after a restart. Events at
or above them arrived after the erasure and start a new user. The write
script compares the whole fence with the one its read saw, so a write
computed before the fence existed (without that cut-off) cannot commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from state.codec import CodecError


@dataclass(frozen=True, slots=True)
class ErasureFence:
    """One erasure: its id and, per partition of ``topic``, the log end offset then."""

    erasure_id: str
    topic: str = ""
    ends: Mapping[int, int] = field(default_factory=dict)

    @classmethod
    def new(cls, topic: str, ends: Mapping[int, int]) -> ErasureFence:
        """A fence with a fresh id: two erasures of one user never look alike."""
        return cls(uuid.uuid4().hex, topic, dict(ends))

    def covers(self, topic: str, partition: int, offset: int) -> bool:
        """True for an event that was in the log when the user was erased.

        >>> ErasureFence("x", "interactions", {0: 10}).covers("interactions", 0, 9)
        True
        >>> ErasureFence("x", "interactions", {0: 10}).covers("interactions", 0, 10)
        False
        """
        return topic == self.topic and offset < self.ends.get(partition, 0)

    def encode(self) -> bytes:
        body = {
            "id": self.erasure_id,
            "topic": self.topic,
            "ends": {str(p): o for p, o in self.ends.items()},
        }
        return orjson.dumps(body)

    @classmethod
    def decode(cls, raw: bytes) -> ErasureFence:
        """The fence as stored; :class:`CodecError` when it is not one."""
        try:
            body = orjson.loads(raw)
            ends = {int(p): int(o) for p, o in body["ends"].items()}
            fence = cls(str(body["id"]), str(body["topic"]), ends)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CodecError(f"stored erasure fence is corrupt: {exc!r}") from None
        if not isinstance(body["id"], str) or not isinstance(body["topic"], str):
            raise CodecError("stored erasure fence is corrupt: id and topic must be text")
        return fence
