"""Per-surface mixing against one global mix, on synthetic users whose taste differs by surface.

The generator: items around ``categories`` directions. Each user has a
long-term category (their long-term vector is its direction, as a trainer
refresh would give) and a current one that moves every ``session_events``
events. Each event happens on a surface; on each surface the user picks an
item of their long-term category with their own probability (drawn around
the surface's ``long_share``), else one of the current category: on the home
feed users mostly follow their lasting taste, on the search page what they
look for now.

The replay is prequential and runs the worker's code: every round, each user's
next event is scored first (the full ranking by :meth:`InterestModel.scoring_vectors`
with the user on the event's surface, their recent items excluded, as the
worker recommends) and then folded (:meth:`InterestModel.fold`, committed).
One variant learns one mix weight per surface (a prior per surface, an offset
per user and surface), the other one weight for every surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from models.blend import MixWeightLearner
from models.evaluation.ranking import rank_of
from models.interest_model import EventInput, InterestModel, UserInterest
from models.item_table import ItemTable
from models.ranking_metrics import hit_rate_from_ranks, ndcg_from_ranks
from models.short_term import UserVector
from models.user_interest import InterestConfig


@dataclass(frozen=True, slots=True)
class SurfaceSpec:
    """One surface: how often events happen there, and how much users follow long-term taste."""

    name: str
    share: float  # of all events
    long_share: float  # mean probability that a pick there is of the long-term category


DEFAULT_SPECS = (
    SurfaceSpec("home", 0.5, 0.85),
    SurfaceSpec("search", 0.3, 0.1),
    SurfaceSpec("product", 0.2, 0.45),
)


@dataclass(frozen=True, slots=True)
class SurfaceWorld:
    """The synthetic catalogue, users and their events (round by round)."""

    surfaces: tuple[str, ...]
    item_ids: list[str]
    vectors: np.ndarray
    long_term: np.ndarray  # users × dim
    # rounds × users: item row, surface index, event time
    items: np.ndarray
    surface: np.ndarray
    ts: np.ndarray


def make_world(
    users: int = 300,
    events: int = 80,
    categories: int = 12,
    per_category: int = 40,
    dim: int = 32,
    session_events: int = 12,
    specs: Sequence[SurfaceSpec] = DEFAULT_SPECS,
    spread: float = 8.0,
    seed: int = 0,
) -> SurfaceWorld:
    """Users whose taste differs by surface; ``spread`` is the concentration of each
    user's own long-term share on a surface around the surface's (Beta)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((categories, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = 0.5 * rng.standard_normal((categories * per_category, dim)) / np.sqrt(dim)
    vectors = (np.repeat(centres, per_category, axis=0) + noise).astype(np.float32)
    ids = [f"c{c}-i{n}" for c in range(categories) for n in range(per_category)]
    lasting = rng.integers(categories, size=users)
    mean = np.array([s.long_share for s in specs])
    own = rng.beta(mean * spread, (1 - mean) * spread, size=(users, len(specs)))
    shares = np.array([s.share for s in specs])
    surface = rng.choice(len(specs), size=(events, users), p=shares / shares.sum())
    current = rng.integers(categories, size=users)
    items = np.zeros((events, users), np.intp)
    for r in range(events):
        if r % session_events == 0:
            moved = rng.random(users) < 0.8
            current = np.where(moved, rng.integers(categories, size=users), current)
        follow = rng.random(users) < own[np.arange(users), surface[r]]
        category = np.where(follow, lasting, current)
        items[r] = category * per_category + rng.integers(per_category, size=users)
    ts = 10.0 * np.arange(events, dtype=np.float64)[:, None] + rng.random((events, users))
    return SurfaceWorld(
        tuple(s.name for s in specs),
        ids,
        vectors,
        centres[lasting].astype(np.float32),
        items,
        surface,
        ts,
    )


@dataclass
class SurfaceScores:
    """Per surface, the rank of every scored event (0-based; misses past any k)."""

    ranks: dict[str, list[int]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)  # learned priors, as weights

    def summary(self, k: int = 10) -> dict[str, dict[str, float]]:
        out = {}
        every: list[int] = []
        for name, ranks in self.ranks.items():
            array = np.array(ranks, np.int64)
            every += ranks
            out[name] = _metrics(array, k)
        out["all"] = _metrics(np.array(every, np.int64), k)
        return out


def _metrics(ranks: np.ndarray, k: int) -> dict[str, float]:
    return {
        f"ndcg@{k}": round(float(ndcg_from_ranks(ranks, k).mean()), 4),
        f"hr@{k}": round(float(hit_rate_from_ranks(ranks, k).mean()), 4),
        "events": int(ranks.size),
    }


def replay(
    world: SurfaceWorld,
    per_surface: bool,
    config: InterestConfig,
    warmup: int = 10,
    learn_mix: bool = True,
) -> SurfaceScores:
    """Prequential replay of ``world`` with one mix per surface or one for all;
    rounds before ``warmup`` are folded but not scored."""
    n_rounds, n_users = world.items.shape
    table = ItemTable(world.vectors.shape[1], seed=0)
    table.load(dict(zip(world.item_ids, world.vectors, strict=True)))
    n = len(world.surfaces) if per_surface else 1
    rates = {} if learn_mix else {"user_learning_rate": 0.0, "global_learning_rate": 0.0}
    model = InterestModel(table, config, mix=MixWeightLearner(surfaces=n, **rates))
    dim = table.dim
    users = [
        UserInterest(UserVector(np.zeros(dim, np.float32)), long_term=world.long_term[u])
        for u in range(n_users)
    ]
    scores = SurfaceScores({name: [] for name in world.surfaces})
    ids = world.item_ids
    for r in range(n_rounds):
        surfaces = world.surface[r] if per_surface else np.zeros(n_users, np.intp)
        users = [_on(u, int(s)) for u, s in zip(users, surfaces.tolist(), strict=True)]
        if r >= warmup:
            vectors = model.scoring_vectors(users)
            all_scores = vectors @ table.matrix.T
            for u in range(n_users):
                exclude = table.rows_of(users[u].recent)
                rank = rank_of(all_scores[u], int(world.items[r, u]), exclude)
                scores.ranks[world.surfaces[int(world.surface[r, u])]].append(rank)
        events = [
            [EventInput(ids[row], "view", ts, r * n_users + u, surface)]
            for u, (row, ts, surface) in enumerate(
                zip(world.items[r].tolist(), world.ts[r].tolist(), surfaces.tolist(), strict=True)
            )
        ]
        folded = model.fold(users, events)
        model.commit(folded, np.ones(n_users, bool))
        users = folded.users
    prior = model.mix.weights(np.zeros(n), np.arange(n))
    scores.weights = {
        name: round(float(prior[i if per_surface else 0]), 4)
        for i, name in enumerate(world.surfaces)
    }
    return scores


def _on(user: UserInterest, surface: int) -> UserInterest:
    """The user as shown a list on ``surface`` (recommendations take its weight)."""
    return user if user.surface == surface else replace(user, surface=surface)
