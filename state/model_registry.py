"""Published model versions: their checksums, figures and vectors in Redis.

A version is visible to workers only once everything it needs is written:
item vectors, then users' long-term vectors, then its record, and last the
``model:version`` pointer. Versions older than the current one and the N
published before it are garbage: :meth:`ModelRegistry.collect_old_versions`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import redis.exceptions as rex

from state import cluster
from state.codec import decode_json, encode_json, encode_vector
from state.connection import RedisEndpoint, SyncClient, sync_client
from state.keys import KeyLayout
from state.shadow import FIELDS as SHADOW_FIELDS

CHUNK = 1000
PUBLISH_SCRIPT = resources.files("state").joinpath("publish_long_term.lua").read_text()
VERSION_PREFIX = "gru-"
_VERSION = re.compile(rf"{re.escape(VERSION_PREFIX)}([1-9][0-9]*)")


def version_name(number: int) -> str:
    return f"{VERSION_PREFIX}{number}"


def version_number(version: str) -> int | None:
    """The counter behind a published version's name; None for any other name.

    >>> version_number("gru-12"), version_number("online"), version_number("gru-012")
    (12, None, None)
    """
    match = _VERSION.fullmatch(version)
    return int(match.group(1)) if match else None


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


@dataclass(frozen=True, slots=True)
class Collected:
    """What one garbage collection removed from Redis."""

    versions: list[str]
    weights_files: list[str]
    below: int  # every version numbered below this one is gone (0: none)


class ModelRegistry:
    """The trainer's side of Redis: histories in, versions out."""

    def __init__(self, client: SyncClient, keys: KeyLayout, user_ttl_s: int) -> None:
        self.client = client
        self.keys = keys
        self.user_ttl_s = user_ttl_s
        # EVALSHA, loaded on first use (SCRIPT LOAD) and again after NOSCRIPT.
        self._publish_script = client.register_script(PUBLISH_SCRIPT)

    @classmethod
    def from_url(cls, url: str, prefix: str, user_ttl_s: int) -> ModelRegistry:
        """Plain URL only; TLS files go through :func:`state.connection.sync_client`."""
        return cls(sync_client(RedisEndpoint(url)), KeyLayout(prefix), user_ttl_s)

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
        return version_name(int(self.client.incr(self.keys.prefix + "model:counter")))

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
    ) -> int:
        """Write the version's vectors, then its record, then point workers at it;
        the number of users whose long-term fields were written.

        A user with an erasure fence (forgotten within its TTL) is skipped,
        checked and written in one script per chunk of users
        (``publish_long_term.lua``), so a history read before a ``forget``
        cannot write the user back.

        ``long_term_states`` are the GRU states behind the users' long-term
        vectors and ``gru_step`` the weights that step them: with both, workers
        move a user's long-term vector on every event.
        """
        self._write_artefacts(record, items, projection, gru_step)
        states = long_term_states or {}
        written = 0
        for chunk in _chunks(iter(long_term.items())):
            keys: list[str] = []
            args: list[bytes | str] = [b"%d" % self.user_ttl_s, record.version]
            for user_id, vector in chunk:
                keys += (self.keys.user(user_id), self.keys.erasure(user_id))
                state = states.get(user_id)
                args += (
                    encode_vector(vector),
                    b"" if state is None else encode_vector(state.ravel()),
                )
            written += self._publish_chunk(keys, args[:2], args[2:])
        fields = record.to_redis()
        fields["published_at"] = repr(time.time()).encode()
        self.client.hset(self.keys.model_record(record.version), mapping=fields)  # type: ignore[arg-type]
        self.client.set(self.keys.model_version(), record.version)
        return written

    def stage(
        self,
        record: ModelRecord,
        items: Mapping[str, np.ndarray],
        projection: bytes | None = None,
        gru_step: bytes | None = None,
    ) -> None:
        """Everything a worker needs to score ``record`` beside the current version,
        without serving it: no user is written and the version pointer stays."""
        self._write_artefacts(record, items, projection, gru_step)
        fields = record.to_redis()
        fields["staged_at"] = repr(time.time()).encode()
        self.client.hset(self.keys.model_record(record.version), mapping=fields)  # type: ignore[arg-type]

    def staged_at(self, version: str) -> float | None:
        raw = self.client.hget(self.keys.model_record(version), "staged_at")
        return float(raw) if isinstance(raw, bytes) else None

    def drop(self, version: str) -> str | None:
        """Remove a version that never served (a rejected shadow); its weights file name."""
        if version == self.current_version():
            raise ValueError(f"{version} is the current version")
        files = self._weights_files([version])
        pipe = self.client.pipeline(transaction=False)
        for key in self._version_keys(version):  # one key per command: no slot is spanned
            pipe.unlink(key)
        pipe.execute()
        return files[0] if files else None

    def _write_artefacts(
        self,
        record: ModelRecord,
        items: Mapping[str, np.ndarray],
        projection: bytes | None,
        gru_step: bytes | None,
    ) -> None:
        item_key = self.keys.items(record.version)
        frozen_key = self.keys.long_term_items(record.version)  # score-level fusion's long part
        for chunk in _chunks(iter(items.items())):
            mapping = {i: encode_vector(v) for i, v in chunk}
            self.client.hset(item_key, mapping=mapping)
            self.client.hset(frozen_key, mapping=mapping)
        if gru_step is not None:
            self.client.set(self.keys.gru_step(record.version), gru_step)
        if projection is not None:
            self.client.set(self.keys.content_projection(record.version), projection)

    def _publish_chunk(
        self, keys: list[str], common: list[bytes | str], per_user: list[bytes | str]
    ) -> int:
        """One script call on one server; on a cluster one per slot, pipelined
        (state/cluster.py), redoing the calls of a node that forgot the script."""
        if not cluster.is_cluster(self.client):
            return int(
                self._publish_script(keys=keys, args=[*common, *per_user], client=self.client)
            )
        groups = cluster.SlotGroups.of(keys, 2)
        written = 0
        for _ in range(3):
            pipe = self.client.pipeline(transaction=False)
            groups.queue(pipe, self._publish_script.sha, keys, 2, common, per_user, 2)
            results = pipe.execute(raise_on_error=False)
            lost = [
                g
                for g, r in zip(groups.groups, results, strict=True)
                if isinstance(r, rex.NoScriptError)
            ]
            written += groups.sum([r for r in results if not isinstance(r, rex.NoScriptError)])
            if not lost:
                return written
            cluster.load_everywhere_sync(self.client, PUBLISH_SCRIPT)
            groups = cluster.SlotGroups(lost, groups.users)
        raise rex.NoScriptError("the long-term publish script could not be loaded on every node")

    def collect_old_versions(self, keep_previous: int) -> Collected:
        """Delete every version older than the current one and ``keep_previous``
        published before it: items, GRU step, content projection and record.

        Counted back from the version the pointer names, so a version a worker
        may still be loading (the current or a recent one) is never touched.
        Unpublished leftovers (a publish that died half way) below the kept
        ones go too. Returns the versions removed and their weights files,
        which the trainer deletes from its model directory.
        """
        if keep_previous < 0:
            raise ValueError("keep_previous must be 0 or more")
        current = self.current_version()
        newest = version_number(current) if current else None
        if newest is None:
            return Collected([], [], 0)
        floor = int(self.client.get(self._gc_floor()) or 1)
        below = self._oldest_kept(newest, keep_previous, floor)
        versions = [version_name(n) for n in range(floor, below)]
        files = self._weights_files(versions)
        for chunk in _chunks(iter(versions)):
            pipe = self.client.pipeline(transaction=False)
            for version in chunk:
                for key in self._version_keys(version):  # one key each: a cluster's slots
                    pipe.unlink(key)
            pipe.execute()
        if below > floor:
            self.client.set(self._gc_floor(), below)
        return Collected(versions, files, below)

    def _oldest_kept(self, newest: int, keep_previous: int, floor: int) -> int:
        """The number of the oldest version kept; ``floor`` when fewer exist."""
        kept, number = [newest], newest - 1
        while len(kept) <= keep_previous and number >= floor:
            if self.client.exists(self.keys.model_record(version_name(number))):
                kept.append(number)
            number -= 1
        return kept[-1] if len(kept) > keep_previous else floor

    def _weights_files(self, versions: list[str]) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for version in versions:
            pipe.hget(self.keys.model_record(version), "weights_file")
        return [raw.decode() for raw in pipe.execute() if isinstance(raw, bytes)]

    def _version_keys(self, version: str) -> tuple[str, ...]:
        return (
            self.keys.items(version),
            self.keys.item_changes(version),
            self.keys.long_term_items(version),
            self.keys.gru_step(version),
            self.keys.content_projection(version),
            self.keys.model_record(version),
            *(self.keys.shadow_tally(version, name) for name in SHADOW_FIELDS),
        )

    def _gc_floor(self) -> str:
        """Versions numbered below this were collected (a string counter)."""
        return self.keys.prefix + "model:gc-floor"


def _chunks(iterator: Iterator[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in iterator:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
