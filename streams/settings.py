"""The one settings object, read from ``INTERESTS_*`` environment variables.

Each field's ``doc`` metadata is the user documentation: the README's settings
table is generated from it (``interests settings --markdown``) and a test keeps
the two equal.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

ENV_PREFIX = "INTERESTS_"

DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"view": 1.0, "click": 2.0, "add_to_cart": 3.0, "like": 3.0, "purchase": 5.0, "skip": -1.0}
)


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


def _setting(default: Any, doc: str) -> Any:
    if isinstance(default, Mapping):
        return field(default_factory=lambda: default, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def parse_weights(text: str) -> Mapping[str, float]:
    """Parse ``"view:1,click:2"`` into a read-only mapping.

    >>> dict(parse_weights("view:1, purchase:5"))
    {'view': 1.0, 'purchase': 5.0}
    """
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise SettingsError(f"event weight {part!r} is not NAME:WEIGHT")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise SettingsError(f"event weight {part!r} has a non-numeric weight") from None
    if not weights:
        raise SettingsError("at least one event type is needed")
    return MappingProxyType(weights)


def format_weights(weights: Mapping[str, float]) -> str:
    return ",".join(f"{name}:{_exact(weight)}" for name, weight in weights.items())


def _exact(number: float) -> str:
    """Short when that is exact (``1``), else every digit (``0.1234567``)."""
    short = f"{number:g}"
    return short if float(short) == number else repr(number)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service can be told; ``Settings.from_env()`` reads it."""

    kafka_bootstrap: str = _setting("127.0.0.1:9092", "Kafka bootstrap server, host:port.")
    redis_url: str = _setting("redis://127.0.0.1:6379/0", "Redis URL, redis:// or rediss://.")
    app_id: str = _setting("interest-evolution", "Faust app id, also the consumer group.")
    topic_interactions: str = _setting("interactions", "Topic of interaction events.")
    topic_dlq: str = _setting("interactions.dlq", "Dead-letter topic for rejected events.")
    topic_items: str = _setting("items", "Compacted item catalog topic.")
    topic_recommendations: str = _setting("recommendations", "Topic of emitted recommendations.")
    topic_model_updates: str = _setting("model-updates", "Topic announcing model versions.")
    topic_interest_shifts: str = _setting(
        "interest-shifts", "Topic of detected shifts of users' interest."
    )
    topic_partitions: int = _setting(8, "Partitions for topics the service creates.")
    redis_prefix: str = _setting("ie:", "Prefix of every Redis key the service writes.")
    vector_size: int = _setting(64, "Dimension of interest and item vectors.")
    short_term_half_life_s: float = _setting(
        1800.0, "Half-life of short-term interest, in seconds of event time."
    )
    learning_rate: float = _setting(0.5, "SGD step of the online item-vector learner.")
    l2: float = _setting(0.001, "L2 penalty of the online item-vector learner.")
    top_k: int = _setting(20, "Items per recommendation.")
    recent_items: int = _setting(50, "Recent items kept per user and excluded from recs.")
    history_length: int = _setting(200, "Items of each user's history kept for the trainer.")
    user_ttl_s: int = _setting(30 * 24 * 3600, "Seconds after which an inactive user expires.")
    event_weights: Mapping[str, float] = _setting(
        DEFAULT_EVENT_WEIGHTS, "Accepted event types and their weights, NAME:WEIGHT,..."
    )
    max_event_bytes: int = _setting(65536, "Events larger than this go to the DLQ.")
    max_future_skew_s: float = _setting(300.0, "Events dated further ahead go to the DLQ.")
    batch_size: int = _setting(500, "Most events a worker applies in one batch.")
    batch_within_s: float = _setting(0.02, "Longest wait to fill a batch, in seconds.")
    fetch_max_wait_ms: int = _setting(
        20, "Longest a Kafka fetch waits at the broker; bounds latency on Tansu."
    )
    model_poll_s: float = _setting(1.0, "How often workers check for a newly published model.")
    item_refresh_s: float = _setting(10.0, "Seconds between reloads of item vectors.")
    broker_rebalance_timeout_s: float = _setting(
        60.0, "Faust rebalance timeout; 3 is fine for tests and the embedded demo."
    )
    broker_session_timeout_s: float = _setting(
        30.0, "Consumer session timeout; a dead worker's partitions move after this."
    )
    redis_retry_max_s: float = _setting(
        5.0, "Cap of the backoff while Redis or the broker is unreachable or refusing."
    )
    redis_timeout_s: float = _setting(
        5.0, "Longest a Redis command may take before it counts as an outage and is retried."
    )
    dlq_raw_max_bytes: int = _setting(
        65536, "Most bytes of a rejected message a dead letter carries (size and SHA-256 always)."
    )
    model_dir: str = _setting("./model-store", "Where the trainer keeps model weights files.")
    trainer_interval_s: float = _setting(900.0, "Longest time between model refreshes.")
    trainer_min_new_events: int = _setting(100000, "New events that trigger a refresh early.")
    trainer_poll_s: float = _setting(5.0, "How often the trainer checks whether a refresh is due.")
    trainer_epochs: int = _setting(
        40, "Most epochs per refresh; training stops earlier once it stops improving."
    )
    trainer_patience: int = _setting(4, "Epochs without improvement before training stops.")
    trainer_batch_size: int = _setting(128, "Sequences per training batch.")
    trainer_learning_rate: float = _setting(0.003, "Adam learning rate of the GRU.")
    trainer_loss: str = _setting("full", "full (softmax over all items) or sampled.")
    trainer_max_len: int = _setting(50, "Most recent items of a history the GRU reads.")
    trainer_dropout: float = _setting(0.3, "Dropout of the GRU.")
    trending_half_life_s: float = _setting(
        3600.0, "Half-life of the popularity that new users are shown."
    )
    trending_publish_s: float = _setting(5.0, "How often a worker saves trending items.")
    shift_lean: float = _setting(
        2.0, "How far (logits) a detected shift moves a user's blend towards short-term."
    )
    stats_log_interval_s: float = _setting(10.0, "Seconds between a worker's totals log lines.")
    seed: int = _setting(7, "Seed of item-vector initialisation and synthetic streams.")
    log_level: str = _setting("info", "Log level of workers.")

    def __post_init__(self) -> None:
        positive = (
            "topic_partitions",
            "vector_size",
            "short_term_half_life_s",
            "top_k",
            "recent_items",
            "user_ttl_s",
            "max_event_bytes",
            "batch_size",
            "redis_timeout_s",
            "dlq_raw_max_bytes",
        )
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{ENV_PREFIX}{f.name.upper()} must be a finite number")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{ENV_PREFIX}{name.upper()} must be positive")
        if self.trainer_loss not in ("full", "sampled"):
            raise SettingsError(f"{ENV_PREFIX}TRAINER_LOSS must be full or sampled")
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"{ENV_PREFIX}REDIS_URL must start with redis:// or rediss://")
        host, sep, port = self.kafka_bootstrap.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise SettingsError(f"{ENV_PREFIX}KAFKA_BOOTSTRAP must be host:port")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every ``INTERESTS_*`` variable; keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(env_name(f.name))
            if raw is not None:
                values[f.name] = _parse(f.name, raw, _default(f))
        values.update(overrides)
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[env_name(f.name)] = (
                format_weights(value) if isinstance(value, Mapping) else str(value)
            )
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _parse(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, Mapping):
        try:
            return parse_weights(raw)
        except SettingsError as exc:
            raise SettingsError(f"{env_name(name)}: {exc}") from None
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise SettingsError(
            f"{env_name(name)}={raw!r} is not a valid {type(default).__name__}"
        ) from None
    return raw


def settings_table() -> str:
    """The README's settings table, in Markdown."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(Settings):
        default = _default(f)
        shown = format_weights(default) if isinstance(default, Mapping) else str(default)
        rows.append(f"| `{env_name(f.name)}` | `{shown}` | {f.metadata['doc']} |")
    return "\n".join(rows)
