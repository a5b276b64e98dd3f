"""One user's interest, one event at a time: the math the worker and the evaluator share.

The worker keeps :class:`UserInterest` in Redis and the evaluation harness in
memory; both call :meth:`InterestModel.apply` and :meth:`InterestModel.recommend`,
so what is measured offline is what runs online.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from models.batch_fold import FoldedBatch, fold_batch
from models.blend import MixWeightLearner, blend_rows, stack_rows
from models.explain import Explanations, InterestParts, effective_weights, explain
from models.fused_scoring import FusionSpace, explain_fused
from models.gru_step import GRUStepper
from models.interest_shift import ShiftDetector
from models.item_table import ItemTable
from models.online_item_factors import OnlineItemFactors
from models.short_term import ShortTermInterest
from models.surfaces import current_offsets
from models.topk import TopKIndex, top_k_of_scores
from models.user_interest import EventInput, InterestConfig, UserInterest

__all__ = ["EventInput", "FoldedBatch", "InterestConfig", "InterestModel", "UserInterest"]


class InterestModel:
    """Short-term update, online item factors and the long/short blend.

    >>> model = InterestModel(ItemTable(dim=8, seed=0), InterestConfig())
    >>> user, changed = model.apply(UserInterest.new(8), "a", "view", ts=0.0, sample_key=1)
    >>> user.recent
    ('a',)
    >>> idx, _ = model.recommend([user], k=3)
    >>> idx.shape
    (1, 3)
    """

    def __init__(
        self,
        items: ItemTable,
        config: InterestConfig,
        mix: MixWeightLearner | None = None,
        stepper: GRUStepper | None = None,
    ) -> None:
        self.items = items
        self.stepper = stepper
        self.config = config
        self.short_term = ShortTermInterest(config.half_life_s)
        self.factors = OnlineItemFactors(items, config.learning_rate, config.l2)
        self.mix = mix or MixWeightLearner()
        self.shifts = ShiftDetector()
        self.unavailable: set[int] = set()  # item rows never to recommend
        self.index: TopKIndex | None = None  # approximate top-K for a large catalogue
        self.fusion: FusionSpace | None = None
        """Set: rank by score-level fusion (``models.fused_scoring``), else the vector blend."""

    def apply(
        self, user: UserInterest, item_id: str, event_type: str, ts: float, sample_key: int
    ) -> tuple[UserInterest, list[str]]:
        """The user after the event, and the item ids whose vectors changed.

        A batch of one through :meth:`fold`, committed at once: the worker folds
        whole batches with the same code and commits after its write.
        """
        folded = self.fold([user], [[EventInput(item_id, event_type, ts, sample_key)]])
        changed = self.commit(folded, np.ones(1, dtype=bool))
        return folded.users[0], [self.items.ids[row] for row in changed.tolist()]

    def fold(
        self, users: Sequence[UserInterest], events: Sequence[Sequence[EventInput]]
    ) -> FoldedBatch:
        """Every user after their events (in order), vectorised across users.

        Users are stepped together at the same event index. What the events do
        to learner state shared by all users (item vectors, the blend's global
        prior, trending) is returned, not applied: :meth:`commit` applies it
        for the users whose new state was stored, so a batch folded again
        after a conflict or an outage never steps it twice.
        """
        return fold_batch(self, users, events)

    def commit(self, folded: FoldedBatch, users: np.ndarray) -> np.ndarray:
        """Apply the shared steps of the ``users`` (a mask) of a fold; the item rows changed."""
        shared = folded.shared
        take = users[shared.item_owner]
        rows = shared.item_rows[take]
        if rows.size:
            np.add.at(self.items.matrix, rows, shared.item_deltas[take])
        self.mix.step_global(shared.mix_gradients[users].sum(axis=0))
        changed: np.ndarray = np.unique(rows)
        return changed

    def restart_long_term(self, user: UserInterest) -> UserInterest:
        """The user's long-term state rebuilt by stepping through their recent items.

        For a user whose stored state belongs to another model version (or is
        missing): ``recent`` is newest first and holds each item once.
        Without a stepper the user is returned unchanged.
        """
        if self.stepper is None:
            return user
        rows = [r for r in map(self.items.get_index, reversed(user.recent)) if r is not None]
        if not rows:
            return replace(user, long_term_state=None)
        if self.fusion is not None:  # the GRU's own item vectors, as the fold steps it
            vectors = self.fusion.gru_rows(np.asarray(rows, np.intp), self.items)
        else:
            vectors = self.items.matrix[rows]
        return replace(user, long_term_state=self.stepper.run(vectors))

    def long_term_now(self, user: UserInterest) -> np.ndarray | None:
        """The GRU's read-out of the user's stepped state; else the refresh's vector."""
        if self.stepper is not None and user.long_term_state is not None:
            return self.stepper.output(user.long_term_state)
        return user.long_term

    def scoring_vector(self, user: UserInterest) -> np.ndarray:
        """The blended direction that ranks items for this user."""
        vector: np.ndarray = self.scoring_vectors([user])[0]
        return vector

    def scoring_vectors(self, users: Sequence[UserInterest]) -> np.ndarray:
        """:meth:`scoring_vector` of many users, as rows, in a few array operations."""
        parts = self.interest_parts(users)
        return blend_rows(parts.long_term, parts.short_term, parts.weights)

    def interest_parts(self, users: Sequence[UserInterest]) -> InterestParts:
        """Each user's long- and short-term rows and long-term weight, as ranking blends them."""
        dim, stepper = self.items.dim, self.stepper
        short = stack_rows([u.short_term.vector for u in users], dim)
        long = np.zeros((len(users), dim), np.float32)
        states = [u.long_term_state for u in users] if stepper is not None else []
        stepped = np.fromiter((s is not None for s in states), bool, len(states))
        if stepped.any() and stepper is not None:
            known = [s for s in states if s is not None]
            shape = stepper.initial().shape  # one user's state
            rows = stack_rows(known, int(np.prod(shape))).reshape(-1, *shape)
            long[stepped] = stepper.output(rows)
        # The refresh's vector where the GRU has no state (or there is no GRU).
        published = [
            u.long_term is not None and (stepper is None or u.long_term_state is None)
            for u in users
        ]
        if any(published):
            vectors = [u.long_term for u, p in zip(users, published, strict=True) if p]
            long[np.asarray(published)] = stack_rows(vectors, dim)  # type: ignore[arg-type]
        surfaces = np.fromiter((u.surface for u in users), np.intp, len(users))
        surfaces = np.minimum(surfaces, self.mix.surface_count - 1)
        offsets = current_offsets(
            [u.mix_offset for u in users], [u.surface_offsets for u in users], surfaces.tolist()
        )
        weights = effective_weights(long, short, self.mix.weights(offsets, surfaces))
        return InterestParts(long, short, weights)

    def recommend(
        self, users: Sequence[UserInterest], k: int, parts: InterestParts | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item rows and scores per user, recent items excluded.

        ``parts`` are :meth:`interest_parts` of ``users`` when the caller has them.
        """
        parts = parts or self.interest_parts(users)
        unavailable = list(self.unavailable)
        if self.index is None:  # brute force: the exclusions as arrays
            recent = [u.recent for u in users]
            seen = self.items.rows_padded(recent, max(map(len, recent), default=0))
            if self.fusion is not None:
                fused = self.fusion.scores(parts, self.items)
                return top_k_of_scores(fused.scores, k, seen, unavailable)
            vectors = blend_rows(parts.long_term, parts.short_term, parts.weights)
            return top_k_of_scores(self._scores(vectors), k, seen, unavailable)
        vectors = blend_rows(parts.long_term, parts.short_term, parts.weights)
        rows_of = self.items.rows_of
        exclude = [rows_of(u.recent) + unavailable for u in users]
        if self.fusion is not None:
            best, scores, _ = self.fusion.top_k(parts, self.items, k, exclude, self.index, vectors)
            return best, scores
        return self.index.top_k(vectors, self.items.matrix, k, exclude)

    def _scores(self, vectors: np.ndarray) -> np.ndarray:
        """The users' (rows) dot products with every item row, as :func:`models.topk.top_k`."""
        items = self.items.matrix
        users = np.atleast_2d(vectors)
        if not items.shape[0]:
            return np.zeros((users.shape[0], 0), np.float32)
        scores: np.ndarray = users @ items.T
        return scores

    def explain(
        self, users: Sequence[UserInterest], best: np.ndarray, parts: InterestParts, recent: int
    ) -> Explanations:
        """Why each of ``best`` (from :meth:`recommend`) is there; ``recent`` items compared."""
        recent_rows = self.items.rows_padded([u.recent for u in users], recent)
        if self.fusion is not None:
            return explain_fused(self.fusion, parts, self.items, best, recent_rows)
        return explain(parts, self.items.matrix, best, recent_rows)

    def score_rows(self, users: Sequence[UserInterest]) -> np.ndarray:
        """Every item row's score for each user (users × items), as :meth:`recommend` ranks."""
        parts = self.interest_parts(users)
        if self.fusion is not None:
            return self.fusion.scores(parts, self.items).scores
        vectors = blend_rows(parts.long_term, parts.short_term, parts.weights)
        scores: np.ndarray = vectors @ self.items.matrix.T
        return scores
