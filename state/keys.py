"""Redis key layout; see docs/redis-layout.md for readers in other languages.

Every key of one user carries the user id as a Redis Cluster hash tag
(``{...}``), so the atomic update script touches a single slot.
"""

from __future__ import annotations

from dataclasses import dataclass


class Field:
    """Field names of the user hash."""

    SHORT_TERM = "short_term"
    LAST_EVENT_TS = "last_event_ts"
    EVENTS_APPLIED = "events_applied"
    RECENT_ITEMS = "recent_items"
    RECOMMENDATIONS = "recommendations"
    MODEL_VERSION = "model_version"
    LAST_TOPIC = "last_topic"
    LAST_PARTITION = "last_partition"
    LAST_OFFSET = "last_offset"
    UPDATED_AT = "updated_at"


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Key names under one configurable prefix.

    >>> keys = KeyLayout("ie:")
    >>> keys.user("u42")
    'ie:user:{u42}'
    >>> keys.items("online")
    'ie:items:online'
    """

    prefix: str = "ie:"

    def user(self, user_id: str) -> str:
        return f"{self.prefix}user:{{{user_id}}}"

    def items(self, model_version: str) -> str:
        return f"{self.prefix}items:{model_version}"

    def model_version(self) -> str:
        return f"{self.prefix}model:version"

    def user_pattern(self) -> str:
        return f"{self.prefix}user:*"
