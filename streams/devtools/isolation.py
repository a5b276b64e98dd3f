"""Names of their own for one run on a shared broker and Redis.

Tests, benchmarks and soaks start many workers against one embedded broker
and one redis-server; each run gets its own consumer group, topics and key
prefix under one label, so no run reads another's events or state.
"""

from __future__ import annotations


def own_outputs(label: str) -> dict[str, str]:
    """A consumer group, key prefix and output topics of the run's own, as Settings fields."""
    return {
        "app_id": label,
        "redis_prefix": f"{label}:",
        "topic_dlq": f"{label}.dlq",
        "topic_recommendations": f"{label}.recommendations",
        "topic_interest_shifts": f"{label}.interest-shifts",
    }


def own_names(label: str) -> dict[str, str]:
    """:func:`own_outputs` and input topics of the run's own too.

    >>> own_names("t1")["topic_interactions"], own_names("t1")["redis_prefix"]
    ('t1.interactions', 't1:')
    """
    return own_outputs(label) | {
        "topic_interactions": f"{label}.interactions",
        "topic_items": f"{label}.items",
        "topic_model_updates": f"{label}.model-updates",
    }
