"""The read client as the service's own commands open it: same URL, ACL user and TLS."""

from __future__ import annotations

from state import InterestReader, KeyLayout
from state.connection import sync_client
from streams.settings import Settings


def open_reader(settings: Settings) -> InterestReader:
    """A read client built like every other Redis client of the service."""
    return InterestReader(sync_client(settings), KeyLayout(settings.redis_prefix))
