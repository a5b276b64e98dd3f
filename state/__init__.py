"""Everything that speaks Redis: key layout, codecs, atomic writes, read client."""

from state.client import InterestReader, UserState
from state.errors import StoreUnavailable, is_outage
from state.keys import KeyLayout
from state.pseudonym import Pseudonyms
from state.store import UserStateStore
from state.user_store import SharedWrite, StoredUser, UserStore, UserWrite, WriteOutcome

__all__ = [
    "InterestReader",
    "KeyLayout",
    "Pseudonyms",
    "SharedWrite",
    "StoreUnavailable",
    "StoredUser",
    "UserState",
    "UserStateStore",
    "UserStore",
    "UserWrite",
    "WriteOutcome",
    "is_outage",
]
