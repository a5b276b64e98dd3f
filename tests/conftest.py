"""Session fixtures: a real Tansu broker and a real redis-server on free ports."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.devtools.embedded import EmbeddedServices, embedded_services
from streams.devtools.embedded_cluster import EmbeddedCluster, embedded_cluster


@pytest.fixture(scope="session")
def services() -> Iterator[EmbeddedServices]:
    with (
        tempfile.TemporaryDirectory(prefix="interests-test-") as tmp,
        embedded_services(Path(tmp)) as running,
    ):
        yield running


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedCluster]:
    """A real 3-primary Redis Cluster (no replicas) on free loopback ports."""
    with (
        tempfile.TemporaryDirectory(prefix="interests-cluster-") as tmp,
        embedded_cluster(Path(tmp), primaries=3) as running,
    ):
        yield running
