"""Garbage collection of old model versions on a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import redis

from state.keys import KeyLayout
from state.model_registry import ModelRecord, ModelRegistry
from streams.devtools.embedded import EmbeddedServices
from tests.support.harness import isolated_settings

VECTOR = np.ones(4, np.float32)


@pytest.fixture
def registry(services: EmbeddedServices) -> Iterator[ModelRegistry]:
    settings = isolated_settings(services)
    registry = ModelRegistry.from_url(settings.redis_url, settings.redis_prefix, 600)
    yield registry
    registry.close()


def _publish(registry: ModelRegistry) -> str:
    version = registry.next_version()
    record = ModelRecord(version, "0" * 64, f"{version}.pt", ["a"], {})
    registry.publish(record, {"a": VECTOR}, {"u1": VECTOR}, b"projection", gru_step=b"step")
    return version


def _half_published(registry: ModelRegistry) -> str:
    """A publish that died after writing item vectors: no record, no pointer."""
    version = registry.next_version()
    registry.client.hset(registry.keys.items(version), "a", b"\0" * 16)
    return version


def _keys_of(client: redis.Redis, keys: KeyLayout, version: str) -> list[str]:
    names = [
        keys.items(version),
        keys.long_term_items(version),
        keys.gru_step(version),
        keys.content_projection(version),
        keys.model_record(version),
    ]
    return [name for name in names if client.exists(name)]


def _alive(registry: ModelRegistry, versions: list[str]) -> list[str]:
    return [v for v in versions if _keys_of(registry.client, registry.keys, v)]


def test_keeps_the_current_and_n_previous_and_nothing_else(registry: ModelRegistry) -> None:
    versions = [_publish(registry) for _ in range(5)]
    registry.client.hset(registry.keys.items("online"), "a", b"\0" * 16)

    collected = registry.collect_old_versions(keep_previous=2)

    assert collected.versions == ["gru-1", "gru-2"]
    assert collected.weights_files == ["gru-1.pt", "gru-2.pt"]
    assert _alive(registry, versions) == ["gru-3", "gru-4", "gru-5"]
    # Every key of a kept version is still there; the online table and users are not versions.
    assert len(_keys_of(registry.client, registry.keys, "gru-3")) == 5
    assert registry.client.exists(registry.keys.items("online"))
    assert registry.client.hexists(registry.keys.user("u1"), "long_term")
    assert registry.current_version() == "gru-5"
    # Run again with nothing new: nothing more goes.
    assert registry.collect_old_versions(keep_previous=2).versions == []
    assert _alive(registry, versions) == ["gru-3", "gru-4", "gru-5"]


def test_counts_published_versions_and_collects_leftovers_later(registry: ModelRegistry) -> None:
    versions = [_publish(registry) for _ in range(3)]  # gru-1..3
    versions.append(_half_published(registry))  # gru-4, never published
    versions.append(_publish(registry))  # gru-5

    # The two previous *published* are gru-3 and gru-2; the dead gru-4 does not count.
    assert registry.collect_old_versions(keep_previous=2).versions == ["gru-1"]
    assert _alive(registry, versions) == ["gru-2", "gru-3", "gru-4", "gru-5"]

    versions += [_publish(registry) for _ in range(3)]  # gru-6..8
    collected = registry.collect_old_versions(keep_previous=2)
    assert collected.versions == ["gru-2", "gru-3", "gru-4", "gru-5"]
    assert collected.below == 6
    assert _alive(registry, versions) == ["gru-6", "gru-7", "gru-8"]


def test_versions_newer_than_the_pointer_are_not_touched(registry: ModelRegistry) -> None:
    versions = [_publish(registry) for _ in range(4)]
    registry.client.set(registry.keys.model_version(), "gru-2")  # rolled back by hand

    assert registry.collect_old_versions(keep_previous=1).versions == []
    assert _alive(registry, versions) == versions
    assert registry.collect_old_versions(keep_previous=0).versions == ["gru-1"]
    assert _alive(registry, versions) == ["gru-2", "gru-3", "gru-4"]


def test_without_a_published_version_nothing_is_collected(registry: ModelRegistry) -> None:
    _half_published(registry)
    collected = registry.collect_old_versions(keep_previous=1)
    assert collected.versions == [] and collected.below == 0
    with pytest.raises(ValueError):
        registry.collect_old_versions(keep_previous=-1)


def test_a_version_keeps_its_trained_item_vectors_beside_the_online_ones(
    registry: ModelRegistry,
) -> None:
    version = _publish(registry)
    client, keys = registry.client, registry.keys
    assert client.hgetall(keys.long_term_items(version)) == client.hgetall(keys.items(version))
    registry.collect_old_versions(keep_previous=0)
    _publish(registry)
    registry.collect_old_versions(keep_previous=0)
    assert not client.exists(keys.long_term_items(version))
