"""A shadow candidate: a new model version scored on live events before it serves anyone.

For a sampled user with a positive event, the current version is scored by
where the chosen item sat in the list the user was last shown (live quality),
and the candidate by where it would have ranked the item from the same user's
state before the event, built in the candidate's own item space: its GRU run
over the user's recent items (long-term) blended with an order-decayed sum of
those items (short-term) at the user's mix weight. Same users, same events; the
candidate is promoted only if its NDCG@K is not below the current one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from models.blend import blend_rows
from models.explain import InterestParts, effective_weights
from models.fused_scoring import Blend, fused_scores
from models.gru_step import GRUStepper
from models.item_table import ItemTable
from models.ranking_metrics import hit_rate_from_ranks, ndcg_from_ranks

Decision = Literal["promote", "reject", "wait"]


@dataclass(frozen=True, slots=True)
class ShadowTally:
    """Sums over the events both versions were scored on."""

    events: int = 0
    current_ndcg: float = 0.0
    candidate_ndcg: float = 0.0
    current_hits: int = 0
    candidate_hits: int = 0

    @classmethod
    def of(
        cls, current_ranks: Sequence[int], candidate_ranks: Sequence[int], k: int
    ) -> ShadowTally:
        """The tally of paired 0-based ranks (``k`` = not in the top ``k``).

        >>> ShadowTally.of([0, 5], [1, 0], k=5).candidate_hits
        2
        """
        cur, cand = np.asarray(current_ranks), np.asarray(candidate_ranks)
        if cur.shape != cand.shape:
            raise ValueError("ranks must be paired")
        return cls(
            len(cur),
            float(ndcg_from_ranks(cur, k).sum()),
            float(ndcg_from_ranks(cand, k).sum()),
            int(hit_rate_from_ranks(cur, k).sum()),
            int(hit_rate_from_ranks(cand, k).sum()),
        )

    def mean_ndcg(self) -> tuple[float, float]:
        """(current, candidate) NDCG@K per event; (0, 0) before any event."""
        if not self.events:
            return 0.0, 0.0
        return self.current_ndcg / self.events, self.candidate_ndcg / self.events


def decide(tally: ShadowTally, age_s: float, min_events: int, max_age_s: float) -> Decision:
    """Promote once ``min_events`` were scored and the candidate is not worse; reject
    if it is worse, or if ``max_age_s`` passed without enough events to tell.

    >>> decide(ShadowTally(100, 30.0, 31.0), 5.0, 100, 60.0)
    'promote'
    >>> decide(ShadowTally(100, 30.0, 29.0), 5.0, 100, 60.0)
    'reject'
    >>> decide(ShadowTally(10, 3.0, 9.0), 5.0, 100, 60.0), decide(ShadowTally(10), 61.0, 100, 60.0)
    ('wait', 'reject')
    """
    if tally.events >= min_events:
        current, candidate = tally.mean_ndcg()
        return "promote" if candidate >= current else "reject"
    return "reject" if age_s >= max_age_s else "wait"


@dataclass(frozen=True, slots=True)
class ShadowModel:
    """What a worker holds of the candidate: its item space and GRU step."""

    version: str
    items: ItemTable
    stepper: GRUStepper | None
    short_term_decay: float = 0.7
    """Weight of each older recent item relative to the next newer one."""
    window: int = 10
    """Recent items the candidate's short-term part is built from."""

    blend: Blend = "vector"
    """As the worker ranks (``INTERESTS_BLEND``); under fusion both parts score the
    candidate's items, which have not moved from the GRU's yet."""

    def user_vectors(self, recents: Sequence[Sequence[str]], weights: np.ndarray) -> np.ndarray:
        """Each user's scoring direction in the candidate's space (rows)."""
        parts = self.user_parts(recents, weights)
        return blend_rows(parts.long_term, parts.short_term, parts.weights)

    def user_parts(self, recents: Sequence[Sequence[str]], weights: np.ndarray) -> InterestParts:
        """Each user's long- and short-term rows in the candidate's space, and resolved weights.

        ``recents[u]`` is user ``u``'s recent items, newest first; ``weights``
        their long-term mix weights. Items the candidate does not know are skipped.
        """
        dim, matrix = self.items.dim, self.items.matrix
        rows_of = [self.items.rows_of(recent) for recent in recents]
        long = np.zeros((len(recents), dim), np.float32)
        short = np.zeros((len(recents), dim), np.float32)
        for u, rows in enumerate(rows_of):
            newest = np.asarray(rows[: self.window], np.intp)
            decay = self.short_term_decay ** np.arange(len(newest), dtype=np.float32)
            short[u] = decay @ matrix[newest]
        lengths = np.fromiter(map(len, rows_of), np.intp, len(rows_of))
        if self.stepper is not None and lengths.any():  # the GRU reads oldest first
            padded = np.zeros((len(rows_of), int(lengths.max()), dim), np.float32)
            for u, rows in enumerate(rows_of):
                padded[u, : len(rows)] = matrix[rows[::-1]]
            states = self.stepper.run_batch(padded, lengths)
            stepped = lengths > 0
            long[stepped] = self.stepper.output(states[stepped])
        return InterestParts(long, short, effective_weights(long, short, weights))

    def ranks(
        self,
        recents: Sequence[Sequence[str]],
        weights: np.ndarray,
        chosen: Sequence[str],
        k: int,
    ) -> list[int]:
        """0-based rank of each user's chosen item among the candidate's items, the
        user's recent items excluded as from every list the service shows (so a
        repeat of a recent item is a miss for both versions); ``k`` for a miss or an
        item the candidate does not know."""
        parts = self.user_parts(recents, weights)
        matrix = self.items.matrix
        if self.blend == "fusion":
            known = np.ones(matrix.shape[0], bool)
            scores = fused_scores(parts, matrix, known, matrix).scores
        else:
            scores = blend_rows(parts.long_term, parts.short_term, parts.weights) @ matrix.T
        has: np.ndarray = np.any(parts.long_term, axis=1) | np.any(parts.short_term, axis=1)
        out: list[int] = []
        for u, item in enumerate(chosen):
            row = self.items.get_index(item)
            if row is None or not has[u]:
                out.append(k)
                continue
            seen = self.items.rows_of(recents[u])
            if row in seen:  # excluded from any list the service shows, as from the current's
                out.append(k)
                continue
            user_scores = scores[u].copy()
            user_scores[seen] = -np.inf
            out.append(min(k, int((user_scores > user_scores[row]).sum())))
        return out


@dataclass(frozen=True, slots=True)
class ShadowVerdict:
    """One look at a shadow candidate: its figures and what was decided."""

    version: str
    decision: Decision
    tally: ShadowTally

    def figures(self, k: int) -> dict[str, float | int]:
        """The live figures, as announced and recorded with the version.

        >>> figures = ShadowVerdict("gru-2", "promote", ShadowTally(4, 2.0, 3.0, 2, 3)).figures(10)
        >>> figures["live_ndcg_current"], figures["live_ndcg_candidate"], figures["live_events"]
        (0.5, 0.75, 4)
        """
        t = self.tally
        current, candidate = t.mean_ndcg()
        n = max(t.events, 1)
        return {
            "live_events": t.events,
            "live_k": k,
            "live_ndcg_current": current,
            "live_ndcg_candidate": candidate,
            "live_hit_rate_current": t.current_hits / n,
            "live_hit_rate_candidate": t.candidate_hits / n,
        }
