"""What re-ranking a candidate list for one user reads from Redis: two round trips.

First the user's vectors (social included), blend weight, recent items and
model version (one ``HMGET``) with the current version pointer and the social
weight; then the candidates' and the
recent items' vectors of that version (one ``HMGET``). The math is
:func:`models.rerank.rerank`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.surfaces import DEFAULT_SURFACES
from state.codec import decode_json, decode_vector
from state.connection import SyncClient
from state.keys import Field, KeyLayout
from state.surface_weights import weights_by_surface

_USER_FIELDS = (
    Field.SHORT_TERM,
    Field.LONG_TERM,
    Field.LONG_TERM_VERSION,
    Field.MIX_WEIGHT,
    Field.MODEL_VERSION,
    Field.RECENT_ITEMS,
    Field.SURFACE_MIX,
    Field.SOCIAL,
    Field.LONG_TERM_STATE,
    Field.LONG_TERM_STATE_VERSION,
)
RECENT_FOR_REASONS = 10
"""Recent items of the user that may explain a candidate."""


@dataclass(frozen=True, slots=True)
class RerankInput:
    """A user's side of a re-rank, and the vectors of the items involved."""

    known_user: bool
    model_version: str | None
    short_term: np.ndarray | None = None
    long_term: np.ndarray | None = None
    long_term_state: np.ndarray | None = None
    """The GRU state workers stepped with every event since the refresh (flat), of
    ``model_version``; its read-out is the long-term vector the worker ranks with."""
    long_term_weight: float = 0.5
    recent: list[str] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    social: np.ndarray | None = None  # the followees' mean interest (models.social)
    social_change: float = 0.0  # how far the workers moved the social weight (logit)


def read_rerank_input(
    client: SyncClient,
    keys: KeyLayout,
    user_id: str,
    candidates: Sequence[str],
    surfaces: Sequence[str] = DEFAULT_SURFACES,
    surface: str | None = None,
) -> RerankInput:
    """The user's state and the item vectors a re-rank needs; the blend weight is the
    user's on ``surface`` (one of ``surfaces``; None: the default, the first)."""
    other = surface is not None and surface != surfaces[0]
    pipe = client.pipeline(transaction=False)
    pipe.hmget(keys.user(user_id), list(_USER_FIELDS))
    pipe.get(keys.model_version())
    pipe.get(keys.social_prior())
    if other:
        pipe.get(keys.surface_prior(str(surface)))
    row, pointer, social_change, *prior = pipe.execute()
    st, lt, lt_version, weight, user_version, recent_raw, surface_mix, social, *stepped = row
    state, state_version = stepped
    if other:
        priors = {str(surface): prior[0]}
        on = weights_by_surface([surfaces[0], str(surface)], weight, surface_mix, priors)
        weight = repr(on[str(surface)]).encode() if st is not None else None
    current = pointer.decode() if pointer else "online"
    version = user_version.decode() if user_version else current
    recent = [str(i) for i in decode_json(recent_raw, [])][:RECENT_FOR_REASONS]
    wanted = list(dict.fromkeys([*candidates, *recent]))
    raw: list[bytes | None] = client.hmget(keys.items(version), wanted) if wanted else []  # type: ignore[assignment]
    present = [(i, v) for i, v in zip(wanted, raw, strict=True) if v]
    vectors: dict[str, np.ndarray] = {}
    if present and len({len(v) for _, v in present}) == 1:  # one decode for all rows
        rows = np.frombuffer(b"".join(v for _, v in present), "<f4").astype(np.float32)
        rows = rows.reshape(len(present), -1)
        vectors = {i: rows[n] for n, (i, _) in enumerate(present)}
    else:
        vectors = {i: decode_vector(v) for i, v in present}
    long_term = decode_vector(lt) if lt and lt_version and lt_version.decode() == version else None
    same = state and state_version and state_version.decode() == version
    long_term_state = decode_vector(state) if same else None
    return RerankInput(
        known_user=st is not None or social is not None,
        model_version=version,
        short_term=decode_vector(st) if st else None,
        long_term=long_term,
        long_term_state=long_term_state,
        long_term_weight=float(weight) if weight else 0.5,
        recent=recent,
        vectors=vectors,
        social=decode_vector(social) if social else None,
        social_change=float(social_change) if social_change else 0.0,
    )
