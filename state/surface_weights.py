"""A user's long-term mix weight on a surface, as readers find it in Redis.

The worker stores the default surface's weight as ``mix_weight`` and the
weights of the other surfaces the user acted on in ``surface_mix``; on a
surface the user never acted on, their weight is that surface's global
prior: ``sigmoid(ie:mix:prior:<surface>)`` (the workers' learner starts at
logit 0, a weight of 0.5, and the key holds how far all steps moved it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from state.user_store import surface_mix_entries

NO_WEIGHT = 0.5
"""The weight of a user the service holds nothing on (as the worker's learner starts)."""


def prior_weight(raw: bytes | None) -> float:
    """A surface's global prior as a weight, from its stored logit change.

    >>> prior_weight(None), round(prior_weight(b"1.0"), 4)
    (0.5, 0.7311)
    """
    logit = float(raw) if raw else 0.0
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))


def weights_by_surface(
    surfaces: Sequence[str],
    mix_weight: bytes | None,
    surface_mix: bytes | None,
    priors: Mapping[str, bytes | None],
) -> dict[str, float]:
    """The user's weight on every configured surface (the first is the default).

    >>> weights_by_surface(["home", "search", "product"], b"0.8",
    ...                    b'{"search": {"offset": -1.0, "weight": 0.3}}', {})
    {'home': 0.8, 'search': 0.3, 'product': 0.5}
    """
    own = surface_mix_entries(surface_mix)
    out = {surfaces[0]: float(mix_weight) if mix_weight else NO_WEIGHT}
    for name in surfaces[1:]:
        out[name] = own[name][1] if name in own else prior_weight(priors.get(name))
    return out
