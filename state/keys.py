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
    MIX_OFFSET = "mix_offset"
    MIX_WEIGHT = "mix_weight"
    SHIFT_STATE = "shift_state"
    LONG_TERM = "long_term"
    LONG_TERM_VERSION = "long_term_version"
    LONG_TERM_STATE = "long_term_state"
    LONG_TERM_STATE_VERSION = "long_term_state_version"
    SURFACE_MIX = "surface_mix"
    SOCIAL = "social"  # mean interest of the user's followees (state/followees.py)
    SOCIAL_AT = "social_at"  # when it was last computed (epoch seconds)


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

    def history(self, user_id: str) -> str:
        """The user's bounded item history, oldest first (a list)."""
        return f"{self.prefix}user:{{{user_id}}}:history"

    def trail(self, user_id: str) -> str:
        """The user's interest-evolution trail, oldest point first (a bounded list)."""
        return f"{self.prefix}user:{{{user_id}}}:trail"

    def erasure(self, user_id: str) -> str:
        """The user's erasure fence (a string counter with a TTL): set by ``forget``,
        checked by every write of the user (see docs/redis-layout.md)."""
        return f"{self.prefix}user:{{{user_id}}}:erased"

    def followees(self, user_id: str) -> str:
        """Whom the user follows: a sorted set of user ids scored by follow time, bounded."""
        return f"{self.prefix}user:{{{user_id}}}:follows"

    def history_pattern(self) -> str:
        return f"{self.prefix}user:*:history"

    def user_id_of(self, key: str) -> str:
        """The user id inside a user or history key.

        >>> KeyLayout("ie:").user_id_of("ie:user:{u1}:history")
        'u1'
        """
        start = key.index("{", len(self.prefix)) + 1
        return key[start : key.rindex("}")]

    def events_total(self) -> str:
        """Events applied by all workers (the trainer's trigger)."""
        return f"{self.prefix}events:total"

    def model_record(self, model_version: str) -> str:
        """Checksum and figures of one published model version (a hash)."""
        return f"{self.prefix}model:{model_version}"

    def unavailable(self) -> str:
        """Item ids of the catalogue marked ``available: false`` (a set), shared by all workers."""
        return f"{self.prefix}items:unavailable"

    def mix_prior(self) -> str:
        """How far every worker's steps moved the blend's global prior (logit, a float)."""
        return f"{self.prefix}mix:prior"

    def surface_prior(self, surface: str) -> str:
        """:meth:`mix_prior` of a surface other than the default one (models.surfaces)."""
        return f"{self.prefix}mix:prior:{surface}"

    def social_prior(self) -> str:
        """How far every worker's steps moved the social part's weight (logit, a float)."""
        return f"{self.prefix}social:prior"

    def trending(self) -> str:
        return f"{self.prefix}trending"

    def item_meta(self) -> str:
        return f"{self.prefix}items:meta"

    def content_projection(self, model_version: str) -> str:
        return f"{self.prefix}content:{model_version}"

    def gru_step(self, model_version: str) -> str:
        """The version's GRU step weights (an ``.npz`` archive) that workers step users with."""
        return f"{self.prefix}gru-step:{model_version}"

    def items(self, model_version: str) -> str:
        return f"{self.prefix}items:{model_version}"

    def item_changes(self, model_version: str) -> str:
        """Which of the version's item vectors workers wrote, and when (a stream of id lists):
        a reload reads only those, not the whole ``items`` hash."""
        return f"{self.prefix}item-changes:{model_version}"

    def long_term_items(self, model_version: str) -> str:
        """The version's item vectors as the GRU trained them (online steps never touch them)."""
        return f"{self.prefix}long-term-items:{model_version}"

    def model_version(self) -> str:
        return f"{self.prefix}model:version"

    def model_shadow(self) -> str:
        """The version workers score in the shadow of the current one (a string), if any."""
        return f"{self.prefix}model:shadow"

    def shadow_tally(self, model_version: str, name: str) -> str:
        """One running sum of a shadow's live scoring (a number); one slot per version."""
        return f"{self.prefix}shadow:{{{model_version}}}:{name}"

    def user_pattern(self) -> str:
        """User hashes only (history keys end in ':history')."""
        return f"{self.prefix}user:*}}"
