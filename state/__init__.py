"""Everything that speaks Redis: key layout, codecs, atomic writes, read client."""

from state.client import InterestReader, UserState
from state.keys import KeyLayout
from state.store import StoredUser, UserStateStore, UserWrite

__all__ = ["InterestReader", "KeyLayout", "StoredUser", "UserState", "UserStateStore", "UserWrite"]
