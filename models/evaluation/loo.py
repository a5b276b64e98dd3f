"""Leave-one-out with full ranking, comparable with published SASRec/GRU4Rec figures.

Each user's last item is the test target and the one before it validation
(:mod:`~models.evaluation.splits`). The GRU trains on the training prefixes
and keeps its best epoch on validation NDCG; the blend's long-term weight is
chosen on validation too. Online learners (river MF, short-term, blend's
short-term part) replay the training events, then the validation events, in
stream order, so at test time every variant knows exactly the test history.
Every item of the catalogue is ranked; ``exclude_seen`` drops the user's
history (never the target) from the ranking.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from models.blend import MixWeightLearner
from models.evaluation.catalog import Catalog
from models.evaluation.config import EvalConfig
from models.evaluation.events import StreamEvent
from models.evaluation.report import VariantScores, scores_from_ranks
from models.evaluation.splits import LeaveOneOut, leave_one_out
from models.evaluation.stream_variants import Interest, RiverMF
from models.interest_model import UserInterest
from models.long_term import GRURecommender, evaluate_next_item
from models.long_term.fit import encode, fit, user_vectors
from models.long_term.training import ProgressCallback
from models.ranking_metrics import catalog_coverage, novelty, ranks_of_targets
from models.topk import top_k

StageFn = Callable[[str], None]
"""Told the name of each stage as it starts (for progress output)."""


@dataclass
class LooRun:
    scores: list[VariantScores]
    n_users: int
    n_items: int
    gru_epochs: int
    gru_best_epoch: int | None
    gru_validation_ndcg: float
    blend_prior: float
    blend_validation: dict[float, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Targets:
    """One evaluation point per evaluated user: the target and the history rows."""

    users: list[str]
    targets: np.ndarray
    histories: list[list[int]]


@dataclass
class _Data:
    split: LeaveOneOut
    catalog: Catalog
    train_events: list[StreamEvent]
    validation_events: list[StreamEvent]
    validation: _Targets
    test: _Targets
    counts: np.ndarray


def _prepare(events: Sequence[StreamEvent], config: EvalConfig) -> _Data:
    weights = config.interest.event_weights
    positives = [e for e in events if weights[e.event_type] > 0]
    sequences: dict[str, list[str]] = {}
    for e in positives:
        sequences.setdefault(e.user_id, []).append(e.item_id)
    split = leave_one_out(sequences)
    catalog = Catalog(e.item_id for e in positives)
    seen: dict[str, int] = {}
    train, validation = [], []
    for e in positives:
        j, n = seen.get(e.user_id, 0), len(sequences[e.user_id])
        seen[e.user_id] = j + 1
        if e.user_id not in split.test or j < n - 2:
            train.append(e)
        elif j == n - 2:
            validation.append(e)
    users = split.evaluated
    rows = catalog.get_index

    def targets(wanted: dict[str, str], history: Callable[[str], list[str]]) -> _Targets:
        hist = [[rows(i) or 0 for i in history(u)] for u in users]
        return _Targets(users, np.array([rows(wanted[u]) for u in users], np.intp), hist)

    counts = np.bincount([rows(e.item_id) or 0 for e in train], minlength=len(catalog))
    return _Data(
        split,
        catalog,
        train,
        validation,
        targets(split.validation, split.validation_history),
        targets(split.test, split.test_history),
        counts,
    )


def _rank(
    users: np.ndarray, items: np.ndarray, at: _Targets, k: int, exclude_seen: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of the targets and top-``k`` rows under scores ``users @ items.T``.

    With ``exclude_seen`` a user's history leaves the ranking, never the target.
    """
    ranks, tops = [], []
    for start in range(0, users.shape[0], 512):
        part = slice(start, start + 512)
        targets, histories = at.targets[part], at.histories[part]
        seen = [[r for r in h if r != t] for h, t in zip(histories, targets, strict=True)]
        exclude = seen if exclude_seen else None
        ranks.append(ranks_of_targets(users[part] @ items.T, targets, exclude))
        tops.append(top_k(users[part], items, k, exclude or ())[0])
    return np.concatenate(ranks).astype(np.int64), np.concatenate(tops)


def _variant(
    name: str, users: np.ndarray, items: np.ndarray, data: _Data, config: EvalConfig
) -> VariantScores:
    ranks, tops = _rank(users, items, data.test, config.k, config.exclude_seen)
    lists = tops.tolist()
    return scores_from_ranks(
        name,
        ranks,
        config.k,
        catalog_coverage(lists, len(data.catalog)),
        novelty(lists, data.counts),
    )


def _train_gru(
    data: _Data, config: EvalConfig, progress: ProgressCallback | None
) -> tuple[GRURecommender, int, int | None, float]:
    val_histories = encode(
        {u: data.split.validation_history(u) for u in data.validation.users}, data.catalog
    )
    val_targets = (data.validation.targets + 1).tolist()
    histories = [val_histories[u] for u in data.validation.users]
    best = [0.0]

    def validate(model: GRURecommender) -> float:
        metrics = evaluate_next_item(
            model, histories, val_targets, config.k, exclude_seen=config.exclude_seen
        )
        best[0] = max(best[0], metrics["ndcg"])
        return metrics["ndcg"]

    refresh = fit(
        data.split.train,
        data.catalog,
        config.long_term,
        config.training,
        validate=validate,
        patience=config.patience,
        progress=progress,
        vector_users=[],
    )
    return refresh.model, refresh.epochs_run, refresh.best_epoch, best[0]


def _long_term_vectors(
    model: GRURecommender, data: _Data, history: Callable[[str], list[str]]
) -> np.ndarray:
    encoded = encode({u: history(u) for u in data.test.users}, data.catalog)
    vectors = user_vectors(model, encoded)
    return np.stack([vectors[u] for u in data.test.users])


def _replay(
    variant: Interest | RiverMF, events: list[StreamEvent], data: _Data, config: EvalConfig
) -> None:
    """Learn ``events`` in stream order; keys (for negative sampling) follow on from training."""
    start = 0 if events is data.train_events else len(data.train_events)
    for key, e in enumerate(events, start):
        weight = config.interest.event_weights[e.event_type]
        variant.learn(e, data.catalog.get_index(e.item_id) or 0, weight, key)


def _replay_online(
    variant: Interest | RiverMF, data: _Data, config: EvalConfig
) -> dict[str, UserInterest]:
    """Learn the training events, then the validation events, in stream order.

    Returns the users' states after the training events (for validation).
    """
    _replay(variant, data.train_events, data, config)
    after_train = dict(variant.users) if isinstance(variant, Interest) else {}
    _replay(variant, data.validation_events, data, config)
    return after_train


def _interest(name: str, data: _Data, config: EvalConfig) -> Interest:
    variant = Interest(name, config, long_term=None)
    for item_id in data.catalog.ids:  # table rows in catalogue order
        variant.items.index_of(item_id)
    return variant


def _interest_vectors(
    variant: Interest, states: dict[str, UserInterest], users: list[str], lt: np.ndarray | None
) -> np.ndarray:
    """The worker's scoring vector of each user (with ``lt`` as their long-term vector)."""
    rows = []
    for i, user in enumerate(users):
        state = states.get(user) or UserInterest.new(variant.items.dim)
        if lt is not None:
            state = replace(state, long_term=lt[i])
        rows.append(variant.model.scoring_vector(state))
    return np.stack(rows)


def _choose_prior(
    blend: Interest,
    states: dict[str, UserInterest],
    lt: np.ndarray,
    data: _Data,
    config: EvalConfig,
) -> dict[float, float]:
    """Validation NDCG of every candidate long-term weight."""
    out: dict[float, float] = {}
    for prior in config.blend_priors:
        blend.model.mix = MixWeightLearner(prior=prior)
        vectors = _interest_vectors(blend, states, data.validation.users, lt)
        ranks, _ = _rank(
            vectors, blend.items.matrix, data.validation, config.k, config.exclude_seen
        )
        out[prior] = scores_from_ranks("blend", ranks, config.k).ndcg
    return out


def _popularity(data: _Data, config: EvalConfig) -> VariantScores:
    ones = np.ones((len(data.test.users), 1))
    return _variant("popularity", ones, data.counts[:, None] * 1.0, data, config)


def _river_mf(data: _Data, config: EvalConfig) -> VariantScores:
    """Scores ``bias_i + u·v_i`` as one product: users get a constant 1 column."""
    mf = RiverMF(config, data.catalog)
    _replay_online(mf, data, config)
    zero = np.zeros(config.mf.factors)
    users = np.stack([mf.mf.model.u_latents.get(u, zero) for u in data.test.users])
    n = len(data.catalog)
    items = np.hstack([mf.mf.latents[:n], mf.mf.biases[:n, None]])
    return _variant("river_mf", np.hstack([users, np.ones((len(users), 1))]), items, data, config)


def _short_term(data: _Data, config: EvalConfig) -> VariantScores:
    short = _interest("short_term", data, config)
    _replay_online(short, data, config)
    vectors = _interest_vectors(short, short.users, data.test.users, None)
    return _variant("short_term", vectors, short.items.matrix, data, config)


def _blend(
    data: _Data, config: EvalConfig, gru_items: np.ndarray, lt_val: np.ndarray, lt_test: np.ndarray
) -> tuple[VariantScores, float, dict[float, float]]:
    """The blend on the GRU's item vectors, its long-term weight chosen on validation."""
    blend = _interest("blend", data, config)
    blend.take_item_vectors(data.catalog.ids, gru_items)
    # The GRU has learned the training events already: no online item steps on them.
    blend.set_item_step(0.0)
    _replay(blend, data.train_events, data, config)
    after_train = dict(blend.users)
    blend.set_item_step(config.swap_learning_rate)
    _replay(blend, data.validation_events, data, config)
    grid = _choose_prior(blend, after_train, lt_val, data, config)
    prior = max(grid, key=lambda p: (grid[p], -abs(p - 0.5)))
    blend.model.mix = MixWeightLearner(prior=prior)
    vectors = _interest_vectors(blend, blend.users, data.test.users, lt_test)
    return _variant("blend", vectors, blend.items.matrix, data, config), prior, grid


def run_loo(
    events: Sequence[StreamEvent],
    config: EvalConfig,
    progress: ProgressCallback | None = None,
    stage: StageFn | None = None,
) -> LooRun:
    """Train on the training parts, choose on validation, report the test targets."""
    started = time.perf_counter()
    tell = stage or (lambda _name: None)
    data = _prepare(events, config)
    tell("long-term GRU")
    model, epochs, best_epoch, val_ndcg = _train_gru(data, config, progress)
    gru_items = model.item_vectors().detach().float().cpu().numpy()[1 : len(data.catalog) + 1]
    lt_test = _long_term_vectors(model, data, data.split.test_history)
    lt_val = _long_term_vectors(model, data, data.split.validation_history)
    results = [_popularity(data, config)]
    tell("river MF")
    results.append(_river_mf(data, config))
    tell("short-term")
    results.append(_short_term(data, config))
    results.append(_variant("long_term", lt_test, gru_items, data, config))
    tell("blend")
    blend, prior, grid = _blend(data, config, gru_items, lt_val, lt_test)
    results.append(blend)
    n_users, n_items = len(data.split.train), len(data.catalog)
    return LooRun(
        results, n_users, n_items, epochs, best_epoch, val_ndcg, prior, grid,
        time.perf_counter() - started,
    )  # fmt: skip
