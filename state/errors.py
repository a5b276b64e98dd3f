"""Which Redis errors are outages: the worker waits them out, never dead-letters for them.

redis-py raises a server's refusals (a replica that became read-only in a
failover, a dataset still loading, a busy script, memory full, a cluster
without quorum) as ``ResponseError`` subclasses, not as ``ConnectionError``;
they say nothing about the event being written, so they are outages too.
"""

from __future__ import annotations

import redis.exceptions as rex

REFUSAL_CODES = frozenset(
    {"READONLY", "LOADING", "BUSY", "MASTERDOWN", "OOM", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS"}
)

_OUTAGE_TYPES = (
    rex.ConnectionError,
    rex.TimeoutError,
    rex.BusyLoadingError,
    rex.ReadOnlyError,
    rex.OutOfMemoryError,
    rex.MasterDownError,
    rex.ClusterDownError,
    rex.TryAgainError,
)


class StoreUnavailable(Exception):
    """The store cannot take reads or writes now; wait and try again."""


def is_outage(error: BaseException) -> bool:
    """True for errors that a later retry of the same command can get past.

    >>> is_outage(rex.ResponseError("BUSY Redis is busy running a script"))
    True
    >>> is_outage(rex.ResponseError("Error running script: @user_script:9: -OOM not allowed"))
    True
    >>> is_outage(rex.ResponseError("WRONGTYPE Operation against a key"))
    False
    """
    if isinstance(error, (StoreUnavailable, *_OUTAGE_TYPES)):
        return True
    if not isinstance(error, rex.ResponseError):
        return False
    code = getattr(error, "status_code", None)
    if code in REFUSAL_CODES:
        return True
    text = str(error)
    words = {w.lstrip("-:") for w in text.replace("(", " ").split()[:1]}
    words |= {w[1:] for w in text.split() if w.startswith("-")}
    return bool(words & REFUSAL_CODES)
