"""The one settings object, read from ``INTERESTS_*`` environment variables.

pydantic-settings reads and converts the variables and pydantic validates them;
each field's ``description`` is the user documentation: the README's settings
table is generated from it (``interests settings --markdown``) and a test keeps
the two equal. What the library does not do is small and below: event weights
as ``NAME:WEIGHT,...`` text, one-line errors that name the variable, and a
warning for an ``INTERESTS_*`` variable that is no setting (a typo is otherwise
silently ignored).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, TextIO

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from models.surfaces import parse_surfaces
from state.connection import redacted_url

ENV_PREFIX = "INTERESTS_"

DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "view": 1.0,
        "click": 2.0,
        "add_to_cart": 3.0,
        "like": 3.0,
        "purchase": 5.0,
        "skip": -1.0,
        "search": 2.0,
    }
)


KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECRET_SETTINGS = frozenset({"kafka_sasl_password", "user_id_key", "dashboard_token"})
"""Settings shown as ``***`` wherever settings are printed (``shown_env``)."""


class SettingsError(ValueError):
    """A setting holds a value it cannot take; the message is one line naming the variable."""


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


def _setting(default: Any, doc: str, **constraints: Any) -> Any:
    """A field whose ``doc`` is its README row; ``constraints`` are pydantic's (``gt=0``)."""
    if isinstance(default, Mapping):  # pydantic deep-copies defaults; a mappingproxy cannot be
        return Field(default_factory=lambda: dict(default), description=doc, **constraints)
    return Field(default, description=doc, **constraints)


class Settings(BaseSettings):
    """Everything the service can be told; ``Settings.from_env()`` reads it.

    ``Settings(...)`` alone is the defaults plus its arguments, never the
    environment, so ``replace`` and tests are unaffected by the shell.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, allow_inf_nan=False, extra="forbid"
    )

    kafka_bootstrap: str = _setting("127.0.0.1:9092", "Kafka bootstrap server, host:port.")
    redis_url: str = _setting(
        "redis://127.0.0.1:6379/0", "Redis URL, redis:// or rediss://.", repr=False
    )
    app_id: str = _setting("interest-evolution", "Faust app id, also the consumer group.")
    topic_interactions: str = _setting("interactions", "Topic of interaction events.")
    topic_dlq: str = _setting("interactions.dlq", "Dead-letter topic for rejected events.")
    topic_items: str = _setting("items", "Compacted item catalog topic.")
    topic_recommendations: str = _setting("recommendations", "Topic of emitted recommendations.")
    topic_model_updates: str = _setting("model-updates", "Topic announcing model versions.")
    topic_interest_shifts: str = _setting(
        "interest-shifts", "Topic of detected shifts of users' interest."
    )
    topic_partitions: int = _setting(8, "Partitions for topics the service creates.", gt=0)
    redis_prefix: str = _setting("ie:", "Prefix of every Redis key the service writes.")
    vector_size: int = _setting(64, "Dimension of interest and item vectors.", gt=0)
    short_term_half_life_s: float = _setting(
        1800.0, "Half-life of short-term interest, in seconds of event time.", gt=0
    )
    learning_rate: float = _setting(0.5, "SGD step of the online item-vector learner.")
    l2: float = _setting(0.001, "L2 penalty of the online item-vector learner.")
    top_k: int = _setting(20, "Items per recommendation.", gt=0)
    explain_recent: int = _setting(
        10, "Recent items each recommended item is compared with (its `near`); 0 = no `why`.", ge=0
    )
    blend: str = _setting(
        "vector",
        "How long- and short-term interest combine: `vector` (one blended vector against the "
        "online item vectors) or `fusion` (each part scored in its own item space, calibrated, "
        "mixed by the learned weight; see Long-term model, blend).",
    )
    ann_min_items: int = _setting(
        20000, "Catalogue size above which top-K uses the HNSW index; brute force below.", gt=0
    )
    ann_m: int = _setting(16, "HNSW links per node (memory and recall of the index).", gt=1)
    ann_ef_construction: int = _setting(200, "HNSW candidate list while building.", gt=0)
    ann_ef: int = _setting(128, "HNSW candidate list per query (recall vs time).", gt=0)
    ann_build_threads: int = _setting(
        1,
        "Threads that build the HNSW index at a model swap (queries keep one); the old version "
        "serves meanwhile, so more threads take cores from it.",
        gt=0,
    )
    hold_outputs_s: float = _setting(
        0.0, "Test only: seconds a worker waits between a batch's write and its produce.", ge=0
    )
    item_table_max: int = _setting(
        200_000,
        "Most items a worker holds in memory (beyond a model's own); least recently seen go.",
        gt=0,
    )
    item_ttl_s: int = _setting(
        30 * 24 * 3600,
        "Seconds after which an item no event chose leaves items:online, and an unavailable "
        "item its catalogue entry.",
        gt=0,
    )
    recent_items: int = _setting(50, "Recent items kept per user and excluded from recs.", gt=0)
    history_length: int = _setting(200, "Items of each user's history kept for the trainer.")
    user_ttl_s: int = _setting(
        30 * 24 * 3600, "Seconds after which an inactive user expires.", gt=0
    )
    topic_epoch_poll_s: float = _setting(
        2.0,
        "Seconds between checks for a recreated interactions topic (new id); 0: never check.",
        ge=0,
    )
    erasure_fence_s: int = _setting(
        24 * 3600,
        "Seconds a forgotten user stays fenced: longer than a batch in flight and a training run.",
        gt=0,
    )
    # NoDecode: the library would read a mapping as JSON; the variable is NAME:WEIGHT text.
    event_weights: Annotated[Mapping[str, float], NoDecode] = _setting(
        DEFAULT_EVENT_WEIGHTS, "Accepted event types and their weights, NAME:WEIGHT,..."
    )
    surfaces: str = _setting(
        "home",
        "Surfaces events may name in context.surface (NAME,...; each a-z, 0-9, _ . - and at "
        "most 32 characters; at most 16): each has its own learned mix weight. The first is "
        "the default, of events without a surface; another name goes to the DLQ.",
    )
    text_model: str = _setting(
        "auto",
        "Text encoder for searches and item texts: auto (all-MiniLM-L6-v2 if the [text] extra "
        "is installed, else hashed words), minilm (required), hashed.",
    )
    max_event_bytes: int = _setting(65536, "Events larger than this go to the DLQ.", gt=0)
    max_future_skew_s: float = _setting(300.0, "Events dated further ahead go to the DLQ.")
    batch_size: int = _setting(500, "Most events a worker applies in one batch.", gt=0)
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
        5.0,
        "Longest a Redis command may take before it counts as an outage and is retried.",
        gt=0,
    )
    dlq_raw_max_bytes: int = _setting(
        65536,
        "Most bytes of a rejected message a dead letter carries (size and SHA-256 always).",
        gt=0,
    )
    model_dir: str = _setting("./model-store", "Where the trainer keeps model weights files.")
    model_keep_versions: int = _setting(
        2, "Published model versions kept besides the current one; older ones are deleted."
    )
    redis_tls_ca: str = _setting("", "CA certificate file that Redis TLS (rediss://) trusts.")
    redis_tls_cert: str = _setting("", "Client certificate file for Redis TLS, when required.")
    redis_tls_key: str = _setting("", "Private key file of the Redis TLS client certificate.")
    kafka_security_protocol: str = _setting(
        "PLAINTEXT", "Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: str = _setting(
        "PLAIN", "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str = _setting("", "Kafka SASL user name.")
    kafka_sasl_password: str = _setting("", "Kafka SASL password (never printed).", repr=False)
    kafka_ssl_ca: str = _setting("", "CA certificate file Kafka TLS trusts; empty: the system's.")
    kafka_ssl_cert: str = _setting("", "Client certificate file for Kafka TLS, when required.")
    kafka_ssl_key: str = _setting("", "Private key file of the Kafka TLS client certificate.")
    user_id_key: str = _setting(
        "",
        "Key of the HMAC that pseudonymises user ids; empty: ids kept (never printed).",
        repr=False,
    )
    user_id_key_file: str = _setting(
        "", "File holding the user id key instead (its bytes, less a trailing newline)."
    )
    trainer_interval_s: float = _setting(900.0, "Longest time between model refreshes.")
    trainer_min_new_events: int = _setting(100000, "New events that trigger a refresh early.")
    trainer_poll_s: float = _setting(5.0, "How often the trainer checks whether a refresh is due.")
    trainer_epochs: int = _setting(
        14,
        "Epochs per refresh (the one-cycle schedule's length); training stops earlier once it "
        "stops improving.",
    )
    trainer_patience: int = _setting(4, "Epochs without improvement before training stops.")
    trainer_min_steps: int = _setting(
        100,
        "Fewest optimizer steps a refresh takes: epochs are raised to reach them on a small "
        "catalogue or a young stream.",
        ge=0,
    )
    trainer_batch_size: int = _setting(256, "Sequences per training batch.")
    trainer_learning_rate: float = _setting(0.01, "Adam learning rate of the GRU (its peak).")
    trainer_schedule: str = _setting(
        "onecycle",
        "Learning-rate schedule: onecycle (warm-up over 10% of the steps, then cosine to zero "
        "at the last epoch) or constant.",
    )
    trainer_label_smoothing: float = _setting(
        0.1, "Share of each target's probability spread over all items in training.", ge=0, lt=1
    )
    trainer_gate_slack: float = _setting(
        0.0,
        "NDCG@10 a candidate may fall short of its bar (popularity for a first version, the "
        "current one after) and still pass the offline gate.",
        ge=0,
    )
    trainer_loss: str = _setting("full", "full (softmax over all items) or sampled.")
    trainer_max_len: int = _setting(50, "Most recent items of a history the GRU reads.")
    trainer_dropout: float = _setting(0.3, "Dropout of the GRU.")
    promotion: str = _setting(
        "direct", "How a candidate that passed the offline gate goes live: direct or shadow."
    )
    shadow_events: int = _setting(
        2000, "Live events a shadow candidate is scored on before it is decided.", gt=0
    )
    shadow_max_s: float = _setting(
        3600.0, "Longest a shadow runs; short of INTERESTS_SHADOW_EVENTS it is rejected.", gt=0
    )
    shadow_users_per_batch: int = _setting(
        64, "Most users per batch a worker scores a shadow candidate on (bounds its cost).", gt=0
    )
    torch_threads: int = _setting(
        0, "CPU threads torch trains with (trainer, evaluate); 0: the idle cores, at least 1.", ge=0
    )
    trending_half_life_s: float = _setting(
        3600.0, "Half-life of the popularity that new users are shown."
    )
    trending_publish_s: float = _setting(5.0, "How often a worker saves trending items.")
    shared_flush_s: float = _setting(
        1.0,
        "Longest an idle worker holds what its last batch stepped (event totals, item steps).",
        gt=0,
    )
    shift_lean: float = _setting(
        0.0,
        "How far (logits) a detected shift moves a user's blend towards short-term "
        "(0: shifts are published but leave the learned weight alone).",
    )
    stats_log_interval_s: float = _setting(10.0, "Seconds between a worker's totals log lines.")
    seed: int = _setting(7, "Seed of item-vector initialisation and synthetic streams.")
    log_level: str = _setting("info", "Log level of workers.")
    metrics_port: int = _setting(
        0, "Port of the Prometheus /metrics of a worker or trainer; 0 = off.", ge=0, le=65535
    )
    rerank_port: int = _setting(
        0, "Port of a worker's POST /rerank (at INTERESTS_METRICS_HOST); 0 = off.", ge=0, le=65535
    )
    metrics_host: str = _setting("127.0.0.1", "Address /metrics listens on; loopback by default.")
    live_quality_k: int = _setting(
        10, "K of live HR@K, NDCG@K and MRR@K (an event vs the list last shown).", gt=0
    )
    live_quality_window: int = _setting(
        1000, "Events per model version in the rolling live-quality window.", gt=0
    )
    trail_length: int = _setting(240, "Points kept per user's interest trail; 0 = no trails.", ge=0)
    trail_every_events: int = _setting(
        20, "A trail point each time a user applies this many events.", gt=0
    )
    trail_period_s: float = _setting(
        300.0, "A trail point when a user's events enter a new period of this many seconds.", gt=0
    )
    followees_max: int = _setting(
        500, "Most users one user follows (kept); a follow past it drops their oldest.", gt=0
    )
    social_refresh_s: float = _setting(
        300.0,
        "Most seconds a user's social vector (their followees' mean interest) is reused; "
        "a follow or unfollow refreshes it at once.",
        ge=0,
    )
    dashboard_host: str = _setting(
        "127.0.0.1", "Address the dashboard listens on; loopback by default."
    )
    dashboard_port: int = _setting(8050, "Port of `interests dashboard`.", gt=0, le=65535)
    dashboard_token: str = _setting(
        "", "Token the dashboard asks for (?token= or a Bearer header); required off loopback."
    )
    dashboard_metrics_urls: str = _setting(
        "", "Comma-separated /metrics URLs the dashboard reads; empty: the local worker's."
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_one_line(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments only: :meth:`from_env` adds the environment it is given."""
        return (init_settings,)

    @field_validator("event_weights", mode="before")
    @classmethod
    def _weights_from_text(cls, value: Any) -> Any:
        return parse_weights(value) if isinstance(value, str) else value

    @field_validator("event_weights")
    @classmethod
    def _weights_read_only(cls, value: Mapping[str, float]) -> Mapping[str, float]:
        if not value:
            raise ValueError("at least one event type is needed")
        return MappingProxyType(dict(value))

    @field_validator("surfaces")
    @classmethod
    def _surface_names(cls, value: str) -> str:
        return ",".join(parse_surfaces(value))

    @property
    def surface_names(self) -> tuple[str, ...]:
        """:attr:`surfaces` as names; the first is the default."""
        return parse_surfaces(self.surfaces)

    @field_validator("text_model")
    @classmethod
    def _known_text_model(cls, value: str) -> str:
        if value not in ("auto", "minilm", "hashed"):
            raise ValueError("must be auto, minilm or hashed")
        return value

    @field_validator("blend")
    @classmethod
    def _known_blend(cls, value: str) -> str:
        if value not in ("vector", "fusion"):
            raise ValueError("must be vector or fusion")
        return value

    @field_validator("trainer_schedule")
    @classmethod
    def _known_schedule(cls, value: str) -> str:
        if value not in ("onecycle", "constant"):
            raise ValueError("must be onecycle or constant")
        return value

    @field_validator("trainer_loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        if value not in ("full", "sampled"):
            raise ValueError("must be full or sampled")
        return value

    @field_validator("promotion")
    @classmethod
    def _known_promotion(cls, value: str) -> str:
        if value not in ("direct", "shadow"):
            raise ValueError("must be direct or shadow")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis:// or rediss://")
        return value

    @field_validator("kafka_security_protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        if value.upper() not in KAFKA_SECURITY_PROTOCOLS:
            raise ValueError("must be " + ", ".join(KAFKA_SECURITY_PROTOCOLS))
        return value.upper()

    @field_validator("kafka_sasl_mechanism")
    @classmethod
    def _known_mechanism(cls, value: str) -> str:
        if value.upper() not in KAFKA_SASL_MECHANISMS:
            raise ValueError("must be " + ", ".join(KAFKA_SASL_MECHANISMS))
        return value.upper()

    @field_validator("kafka_bootstrap")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("must be host:port")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every ``INTERESTS_*`` variable of ``environ`` (default: the process's);
        keyword overrides win."""
        env = os.environ if environ is None else environ
        warn_unknown(env)
        return cls(**{**_EnvironSource(cls, env)(), **overrides})

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            out[env_name(name)] = (
                format_weights(value) if isinstance(value, Mapping) else str(value)
            )
        return out

    def shown_env(self) -> dict[str, str]:
        """:meth:`as_env` fit to print: secrets as ``***`` (when set), URLs without passwords."""
        out = self.as_env()
        for name in SECRET_SETTINGS:
            if getattr(self, name):
                out[env_name(name)] = "***"
        out[env_name("redis_url")] = redacted_url(self.redis_url)
        return out

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated like any other."""
        current = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**current, **changes})


class _EnvironSource(EnvSettingsSource):
    """The library's environment source, reading ``environ`` instead of ``os.environ``
    (tests and child processes pass a mapping)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env_vars = parse_env_vars(
            environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _one_line(exc: ValidationError) -> str:
    """Every problem on one line, each naming its variable."""
    parts = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        name = env_name(field) if field else "settings"
        message = error["msg"].removeprefix("Value error, ")
        shown = repr(error["input"])
        if field in SECRET_SETTINGS:
            shown = "***"
        elif field == "redis_url" and isinstance(error["input"], str):
            shown = repr(redacted_url(error["input"]))
        parts.append(f"{name}: {message[:1].lower()}{message[1:]} (got {shown[:60]})")
    return "; ".join(parts)


_warned: set[str] = set()


def warn_unknown(environ: Mapping[str, str], stream: TextIO | None = None) -> None:
    """One line on stderr, once per process, for each ``INTERESTS_*`` name that is no
    setting, naming the closest one that is (``INTERESTS_TOPK`` → ``INTERESTS_TOP_K``)."""
    known = [name.upper() for name in Settings.model_fields]
    for name in environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper.removeprefix(ENV_PREFIX) in known:
            continue
        if name in _warned:
            continue
        _warned.add(name)
        closest = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), known, 1, 0.0)[0]
        print(
            f"interests: warning: {name} is not a setting and is ignored; "
            f"did you mean {ENV_PREFIX}{closest}?",
            file=stream or sys.stderr,
        )


def settings_table() -> str:
    """The README's settings table, in Markdown."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = format_weights(default) if isinstance(default, Mapping) else str(default)
        rows.append(f"| `{env_name(name)}` | `{shown}` | {info.description} |")
    return "\n".join(rows)
