"""Published model versions: their checksums, figures and vectors in Redis.

A version is visible to workers only once everything it needs is written:
item vectors, then users' long-term vectors, then its record, and last the
``model:version`` pointer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis

from state.codec import decode_json, encode_json, encode_vector
from state.keys import Field, KeyLayout

CHUNK = 1000


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """What the registry knows of one version."""

    version: str
    sha256: str
    weights_file: str
    item_ids: list[str]
    figures: dict[str, Any]

    def to_redis(self) -> dict[str, bytes]:
        return {
            "sha256": self.sha256.encode(),
            "weights_file": self.weights_file.encode(),
            "item_ids": encode_json(self.item_ids),
            "figures": encode_json(self.figures),
        }


class ModelRegistry:
    """The trainer's side of Redis: histories in, versions out."""

    def __init__(self, client: redis.Redis, keys: KeyLayout, user_ttl_s: int) -> None:
        self.client = client
        self.keys = keys
        self.user_ttl_s = user_ttl_s

    @classmethod
    def from_url(cls, url: str, prefix: str, user_ttl_s: int) -> ModelRegistry:
        return cls(redis.Redis.from_url(url), KeyLayout(prefix), user_ttl_s)

    def close(self) -> None:
        self.client.close()

    def current_version(self) -> str | None:
        raw = self.client.get(self.keys.model_version())
        return raw.decode() if isinstance(raw, bytes) else None

    def record(self, version: str) -> ModelRecord | None:
        row: dict[bytes, bytes] = self.client.hgetall(self.keys.model_record(version))  # type: ignore[assignment]
        if not row:
            return None
        return ModelRecord(
            version=version,
            sha256=row[b"sha256"].decode(),
            weights_file=row[b"weights_file"].decode(),
            item_ids=list(decode_json(row.get(b"item_ids"), [])),
            figures=dict(decode_json(row.get(b"figures"), {})),
        )

    def next_version(self) -> str:
        return f"gru-{int(self.client.incr(self.keys.prefix + 'model:counter'))}"

    def events_total(self) -> int:
        raw = self.client.get(self.keys.events_total())
        return int(raw) if isinstance(raw, bytes) else 0

    def histories(self) -> dict[str, list[str]]:
        """Every user's history, oldest item first."""
        out: dict[str, list[str]] = {}
        for chunk in _chunks(self.client.scan_iter(match=self.keys.history_pattern(), count=1000)):
            pipe = self.client.pipeline(transaction=False)
            for key in chunk:
                pipe.lrange(key, 0, -1)
            for key, items in zip(chunk, pipe.execute(), strict=True):
                out[self.keys.user_id_of(key.decode())] = [i.decode() for i in items]
        return out

    def catalog(self) -> dict[str, dict[str, Any]]:
        """Every catalog entry the workers saved from the ``items`` topic."""
        out: dict[str, dict[str, Any]] = {}
        for item_id, raw in self.client.hscan_iter(self.keys.item_meta(), count=2000):
            entry = decode_json(raw, {})
            if isinstance(entry, dict):
                out[item_id.decode()] = entry
        return out

    def publish(
        self,
        record: ModelRecord,
        items: Mapping[str, np.ndarray],
        long_term: Mapping[str, np.ndarray],
        projection: bytes | None = None,
        long_term_states: Mapping[str, np.ndarray] | None = None,
        gru_step: bytes | None = None,
    ) -> None:
        """Write the version's vectors, then its record, then point workers at it.

        ``long_term_states`` are the GRU states behind the users' long-term
        vectors and ``gru_step`` the weights that step them: with both, workers
        move a user's long-term vector on every event.
        """
        item_key = self.keys.items(record.version)
        for chunk in _chunks(iter(items.items())):
            self.client.hset(item_key, mapping={i: encode_vector(v) for i, v in chunk})
        states = long_term_states or {}
        for chunk in _chunks(iter(long_term.items())):
            pipe = self.client.pipeline(transaction=False)
            for user_id, vector in chunk:
                key = self.keys.user(user_id)
                user_fields: dict[str, bytes | str] = {
                    Field.LONG_TERM: encode_vector(vector),
                    Field.LONG_TERM_VERSION: record.version,
                }
                if (state := states.get(user_id)) is not None:
                    user_fields[Field.LONG_TERM_STATE] = encode_vector(state.ravel())
                    user_fields[Field.LONG_TERM_STATE_VERSION] = record.version
                pipe.hset(key, mapping=user_fields)  # type: ignore[arg-type]
                pipe.expire(key, self.user_ttl_s)
            pipe.execute()
        if gru_step is not None:
            self.client.set(self.keys.gru_step(record.version), gru_step)
        if projection is not None:
            self.client.set(self.keys.content_projection(record.version), projection)
        fields = record.to_redis()
        fields["published_at"] = repr(time.time()).encode()
        self.client.hset(self.keys.model_record(record.version), mapping=fields)  # type: ignore[arg-type]
        self.client.set(self.keys.model_version(), record.version)


def _chunks(iterator: Iterator[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in iterator:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
