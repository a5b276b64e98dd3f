"""Session fixtures: a real Tansu broker and a real redis-server on free ports."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.devtools.embedded import EmbeddedServices, embedded_services


@pytest.fixture(scope="session")
def services() -> Iterator[EmbeddedServices]:
    with (
        tempfile.TemporaryDirectory(prefix="interests-test-") as tmp,
        embedded_services(Path(tmp)) as running,
    ):
        yield running
