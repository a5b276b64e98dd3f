"""The read client as the service's own commands open it: same URL, ACL user, TLS and
user id pseudonyms (raw ids in, the keyed pseudonym looked up)."""

from __future__ import annotations

from state import InterestReader, KeyLayout
from state.connection import sync_client
from streams.security import user_pseudonyms
from streams.settings import Settings


def open_reader(settings: Settings) -> InterestReader:
    """A read client built like every other Redis client of the service."""
    return InterestReader(
        sync_client(settings),
        KeyLayout(settings.redis_prefix),
        user_pseudonyms(settings),
        settings.surface_names,
    )
