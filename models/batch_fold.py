"""Many users' events folded at once: the worker's per-batch math, vectorised.

Users are stepped together at the same event index (every user's first event,
then every second one, ...), so the per-event work is a few array operations
over all the users that have an event at that index, not a Python loop of
small numpy calls per event. It is the math of one event of
:class:`models.interest_model.InterestModel`, which folds a batch of one.

What an event does to learner state that all users share (item vectors, the
blend's global prior) is computed against that state as it was when the fold
started and handed back as :class:`SharedSteps`; the caller applies the steps
of the users whose writes committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from models.blend import MixWeightLearner, stack_rows, unit_rows
from models.fused_scoring import FusionSpace, mix_step
from models.gru_step import GRUStepper
from models.interest_shift import Shift, ShiftArrays, ShiftDetector, ShiftState
from models.item_table import ItemTable
from models.online_item_factors import OnlineItemFactors, sampled_rows_many
from models.short_term import ShortTermInterest, UserVector, surprise_keep
from models.surfaces import offset_matrix
from models.user_interest import EventInput, InterestConfig, UserInterest


class FoldModel(Protocol):
    """The parts of an interest model that a fold reads."""

    items: ItemTable
    config: InterestConfig
    factors: OnlineItemFactors
    mix: MixWeightLearner
    shifts: ShiftDetector
    short_term: ShortTermInterest
    fusion: FusionSpace | None  # set: the weight learns on score-level fusion's margins

    @property
    def stepper(self) -> GRUStepper | None: ...


@dataclass(frozen=True, slots=True)
class SharedSteps:
    """Changes to shared learner state, each with the user (index) it came from."""

    item_owner: np.ndarray  # user index of each item change
    item_rows: np.ndarray
    item_deltas: np.ndarray  # added to the rows' vectors
    mix_gradients: np.ndarray  # users × surfaces: summed gradients of the global logits
    event_owner: np.ndarray  # per event (user-major order): its user index
    event_rows: np.ndarray  # per event: its item's row (for trending)
    event_ts: np.ndarray
    event_weights: np.ndarray


@dataclass(frozen=True, slots=True)
class ShiftAt:
    """A shift detected at one of a user's events, with their recent items right after it."""

    event_index: int
    shift: Shift
    recent: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FoldedBatch:
    users: list[UserInterest]  # each user's state after their last event
    shifts: list[list[ShiftAt]]
    shared: SharedSteps


def fold_batch(
    model: FoldModel, users: Sequence[UserInterest], events: Sequence[Sequence[EventInput]]
) -> FoldedBatch:
    """See :meth:`models.interest_model.InterestModel.fold`."""
    n_users = len(users)
    config, items, stepper = model.config, model.items, model.stepper
    weights_of = config.event_weights
    counts = np.fromiter((len(e) for e in events), np.intp, n_users)
    # Every event's item gets its row first (new items start at their seeded vector).
    flat_events = [e for evs in events for e in evs]
    total = len(flat_events)
    flat_rows = items.indices_of([e.item_id for e in flat_events])
    flat_w = np.fromiter((weights_of[e.event_type] for e in flat_events), np.float64, total)
    flat_ts = np.fromiter((e.ts for e in flat_events), np.float64, total)
    flat_key = np.fromiter((e.sample_key for e in flat_events), np.int64, total)
    flat_surface = np.fromiter((e.surface for e in flat_events), np.intp, total)
    matrix = items.matrix
    n_items, dim = matrix.shape

    # Sorted by event count, the users with an event at index j are a prefix.
    order = np.argsort(-counts, kind="stable")
    sorted_counts = counts[order]
    steps = int(sorted_counts[0]) if n_users else 0
    mask = np.arange(steps)[None, :] < sorted_counts[:, None]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)
    # flat index of (sorted user s, step j) = starts[order[s]] + j
    flat_index = np.zeros((n_users, steps), np.intp)
    flat_index[mask] = (starts[order][:, None] + np.arange(steps)[None, :])[mask]
    active = mask.sum(axis=0)

    ordered = [users[i] for i in order.tolist()]
    st = stack_rows([u.short_term.vector for u in ordered], dim)
    st_ts = np.array(
        [np.nan if u.short_term.ts is None else u.short_term.ts for u in ordered], np.float64
    )
    n_surfaces = model.mix.surface_count
    offsets = offset_matrix(
        [u.mix_offset for u in ordered], [u.surface_offsets for u in ordered], n_surfaces
    )
    mix_gradients = np.zeros((n_users, n_surfaces), np.float64)
    last_surface = np.fromiter((u.surface for u in ordered), np.intp, n_users)
    has_ref = np.fromiter((u.long_term is not None for u in ordered), bool, n_users)
    ref = np.zeros((n_users, dim), np.float32)
    if has_ref.any():
        ref[has_ref] = stack_rows([u.long_term for u in ordered if u.long_term is not None], dim)
    has_state = np.zeros(n_users, bool)
    gru: np.ndarray | None = None
    if stepper is not None:
        gru = stepper.initial(n_users)
        has_state = np.fromiter((u.long_term_state is not None for u in ordered), bool, n_users)
        if has_state.any():
            stored = [u.long_term_state for u in ordered if u.long_term_state is not None]
            shape = gru.shape[1:]  # one user's state
            gru[has_state] = stack_rows(stored, int(np.prod(shape))).reshape(-1, *shape)
    shift_states = ShiftArrays.of([u.shift_state for u in ordered])
    # The shift of each user's latest event (kept for users without an event at a step).
    last_shift_at = np.full(n_users, -1, np.intp)  # index into fired_shifts; -1: none
    fired_shifts: list[Shift] = []
    shifts_at: dict[int, list[tuple[int, Shift]]] = {}
    own: list[np.ndarray] = []
    rows_changed: list[np.ndarray] = []
    deltas: list[np.ndarray] = []
    half_life = model.short_term.half_life_s
    learn = config.learn_items

    for j in range(steps):
        a = int(active[j])
        idx = flat_index[:a, j]
        rows, w, ts, keys = flat_rows[idx], flat_w[idx], flat_ts[idx], flat_key[idx]
        surface = np.minimum(flat_surface[idx], n_surfaces - 1)
        same_surface = last_surface[:a] == surface  # as the user's previous event
        last_surface[:a] = surface
        prev = st_ts[:a]
        fresh = np.isnan(prev)
        elapsed = np.maximum(0.0, ts - np.where(fresh, ts, prev))
        factor = np.where(fresh, 0.0, np.exp2(-elapsed / half_life)).astype(np.float32)
        context = st[:a] * factor[:, None]
        item = matrix[rows]
        positive = w > 0
        ctx_unit, ctx_norm = unit_rows(context)

        long_now = ref[:a].copy()
        has_long = has_ref[:a].copy()
        if stepper is not None and gru is not None:
            stepped = np.flatnonzero(has_state[:a])
            if stepped.size:
                long_now[stepped] = stepper.output(gru[stepped])
                has_long[stepped] = True

        sel = np.flatnonzero(has_long & positive & (ctx_norm > 0))
        if sel.size and model.fusion is not None:  # each part in its own item space
            other_rows = sampled_rows_many(n_items, keys[sel], config.mix_negatives, first=1)
            col = surface[sel]
            new_offsets, gradients = mix_step(
                model.fusion,
                model.mix,
                offsets[sel, col],
                long_now[sel],
                context[sel],
                rows[sel],
                other_rows,
                items,
                col,
            )
            offsets[sel, col] = new_offsets
            mix_gradients[sel, col] += gradients
        elif sel.size:
            others = matrix[sampled_rows_many(n_items, keys[sel], config.mix_negatives, first=1)]
            long_unit, _ = unit_rows(long_now[sel])
            short_unit = ctx_unit[sel]
            chosen = item[sel]
            long_m = np.einsum("nd,nd->n", chosen, long_unit)[:, None] - np.einsum(
                "nkd,nd->nk", others, long_unit
            )
            short_m = np.einsum("nd,nd->n", chosen, short_unit)[:, None] - np.einsum(
                "nkd,nd->nk", others, short_unit
            )
            col = surface[sel]
            new_offsets, gradients = model.mix.observe_many(offsets[sel, col], long_m, short_m, col)
            offsets[sel, col] = new_offsets
            mix_gradients[sel, col] += gradients

        tested = has_ref[:a] & positive
        last_shift_at[:a] = -1
        sel = np.flatnonzero(tested)
        if sel.size:
            ref_unit, _ = unit_rows(ref[sel])
            item_unit, _ = unit_rows(item[sel])
            similarity = np.einsum("nd,nd->n", ref_unit, item_unit)
            fired = model.shifts.update_many(shift_states, sel, similarity)
            if fired.users.size:
                offsets[fired.users, surface[fired.users]] -= config.shift_lean
                for i, s in enumerate(fired.users.tolist()):
                    last_shift_at[s] = len(fired_shifts)
                    fired_shifts.append(fired.shift(i))
                    shifts_at.setdefault(s, []).append((j, fired_shifts[-1]))

        if stepper is not None and gru is not None:
            sel = np.flatnonzero(positive)
            if sel.size:  # before the item's own vector learns; under fusion, as the GRU knows it
                gru_item = item if model.fusion is None else model.fusion.gru_rows(rows, items)
                gru[sel] = stepper.step(gru[sel], gru_item[sel])
                has_state[sel] = True

        learned = item
        if learn:
            sel = np.flatnonzero(ctx_norm > 0)
            if sel.size:
                step = model.factors.steps(ctx_unit[sel], rows[sel], positive[sel], np.abs(w[sel]))
                own.append(order[sel])
                rows_changed.append(rows[sel])
                deltas.append(step)
                learned = item.copy()
                learned[sel] += step  # the short-term vector takes the item as it learned
                if n_items >= 2:
                    negative = sampled_rows_many(n_items, keys[sel], 1)[:, 0]
                    keep = negative != rows[sel]
                    if keep.any():
                        neg_sel = sel[keep]
                        own.append(order[neg_sel])
                        rows_changed.append(negative[keep])
                        deltas.append(
                            model.factors.steps(
                                ctx_unit[neg_sel],
                                negative[keep],
                                np.zeros(neg_sel.size, bool),
                                np.ones(neg_sel.size),
                            )
                        )

        # A chosen item far from the decayed context keeps only part of it (see surprise_keep);
        # not across a change of surface, which explains a change of kind (search vs home).
        surprised = positive & same_surface
        keep = np.where(surprised, surprise_keep(unit_rows(item)[0], ctx_unit), np.float32(1.0))
        st[:a] = context * keep[:, None] + w.astype(np.float32)[:, None] * learned
        st_ts[:a] = np.where(fresh, ts, np.maximum(prev, ts))

    out_users: list[UserInterest] = [users[0]] * n_users
    out_shifts: list[list[ShiftAt]] = [[] for _ in range(n_users)]
    keep = config.recent_items
    st_ts_list = st_ts.tolist()
    st_rows = [row.copy() for row in st]
    gru_rows: list[np.ndarray | None] = [None] * n_users
    if gru is not None:
        gru_rows = [
            state.copy() if has else None
            for state, has in zip(gru, has_state.tolist(), strict=True)
        ]
    default_offsets = offsets[:, 0].tolist()
    # The other surfaces' offsets: one tuple per user, or none (one surface).
    other_offsets = [tuple(r) for r in offsets[:, 1:].tolist()] if n_surfaces > 1 else None
    surfaces_list = last_surface.tolist()
    shift_of = last_shift_at.tolist()
    # Users whose detector stepped get their new state; the others keep theirs.
    shift_out: list[ShiftState | None] = [u.shift_state for u in ordered]
    changed = np.flatnonzero(shift_states.changed)
    for s, state in zip(changed.tolist(), shift_states.states(changed), strict=True):
        shift_out[s] = state
    for s, user_index in enumerate(order.tolist()):
        user = ordered[s]
        evs = events[user_index]
        if s in shifts_at:
            out_shifts[user_index] = [
                ShiftAt(j, shift, _recent_after(user.recent, evs[: j + 1], keep))
                for j, shift in shifts_at[s]
            ]
        out_users[user_index] = UserInterest(
            UserVector(st_rows[s], st_ts_list[s]),
            _recent_after(user.recent, evs, keep),
            user.long_term,
            # without a stepper, the stored state is carried, not stepped
            gru_rows[s] if gru is not None else user.long_term_state,
            default_offsets[s],
            shift_out[s],
            None if shift_of[s] < 0 else fired_shifts[shift_of[s]],
            () if other_offsets is None else other_offsets[s],
            surfaces_list[s],
        )
    unsorted_gradients = np.zeros((n_users, n_surfaces), np.float64)
    unsorted_gradients[order] = mix_gradients
    shared = SharedSteps(
        item_owner=np.concatenate(own) if own else np.zeros(0, np.intp),
        item_rows=np.concatenate(rows_changed) if rows_changed else np.zeros(0, np.intp),
        item_deltas=np.concatenate(deltas) if deltas else np.zeros((0, dim), np.float32),
        mix_gradients=unsorted_gradients,
        event_owner=np.repeat(np.arange(n_users), counts),
        event_rows=flat_rows,
        event_ts=flat_ts,
        event_weights=flat_w,
    )
    return FoldedBatch(out_users, out_shifts, shared)


def _recent_after(
    recent: tuple[str, ...], events: Sequence[EventInput], keep: int
) -> tuple[str, ...]:
    """Newest first, each item once, at most ``keep`` (``recent`` holds each item once)."""
    new = tuple(dict.fromkeys([e.item_id for e in reversed(events)]))
    for item_id in new:
        if item_id in recent:  # a scan in C: cheaper than hashing all of ``recent``
            at = recent.index(item_id)
            recent = recent[:at] + recent[at + 1 :]
    return (new + recent)[:keep]
