"""How much a search speeds up adaptation after a user's interest switches (synthetic).

Items of ``--categories`` categories (vectors around one direction each; titles
made of the category's word and filler words); the content projection is
fitted on them as the trainer does (hashed words). Each user views
``--before`` items of one category, then switches to another: either they only
view items of the new category, or they first search for it (a query drawn
from the new category's item titles, placed and added as the worker does:
:func:`models.text_encoder.place_texts`, :func:`models.signals.add_signals`).
Reported: item views after the switch until half of the top-10 is in the new
category (the drift protocol's measure), with and without the search, and the
new category's share of the top-10 right after the search.

    PYTHONPATH=. .venv/bin/python benchmarks/search_drift.py [--users 300]

With ``--stream``, the drift protocol itself instead
(:mod:`models.evaluation.search_drift`): the drift generator's users
(``--users``, ``--events``; their category switches every ``--switch-every``
events on average, 90% of events on topic, items learned online), replayed
through the worker's short-term model twice, once with a search before every
switch (after a warm-up); events after the switch until half of the top-10 is
in the new category, mean and median over the switches that got there.

    PYTHONPATH=. .venv/bin/python benchmarks/search_drift.py --stream [--events 60000]
"""

from __future__ import annotations

import argparse

import numpy as np

from models.cold_start import cold_start_vectors, typical_norm
from models.evaluation.config import EvalConfig
from models.evaluation.events import DriftEvent, StreamEvent
from models.evaluation.search_drift import run_search_drift
from models.interest_model import EventInput, InterestModel, UserInterest
from models.item_table import ItemTable
from models.signals import add_signals
from models.text_encoder import load_text_encoder, place_texts
from models.user_interest import InterestConfig
from streams.devtools.synthetic import DEFAULT_TYPE_MIX, DriftConfig, DriftingUsers, category_of
from streams.settings import DEFAULT_EVENT_WEIGHTS

WORDS = ["shoe", "hat", "chair", "lamp", "novel", "guitar", "tent", "kettle", "scarf", "puzzle"]
FILLER = ["red", "blue", "small", "large", "classic", "modern", "soft", "light", "deluxe", "basic"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--per-category", type=int, default=30)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--before", type=int, default=20)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--half-life", type=float, default=300.0)
    parser.add_argument("--search-weight", type=float, default=2.0)
    parser.add_argument("--text-model", default="hashed", choices=["hashed", "auto"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stream", action="store_true", help="the drift protocol (see above)")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--switch-every", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5000)
    args = parser.parse_args()
    if args.stream:
        stream(args)
        return
    rng = np.random.default_rng(args.seed)
    k, per = args.categories, args.per_category
    centres = rng.standard_normal((k, args.dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    catalog, vectors = {}, {}
    for c in range(k):
        for n in range(per):
            item = f"c{c}-i{n}"
            words = [WORDS[c % len(WORDS)], *rng.choice(FILLER, size=2)]
            catalog[item] = {"title": " ".join(words)}
            noise = 0.6 * rng.standard_normal(args.dim) / np.sqrt(args.dim)
            vectors[item] = (centres[c] + noise).astype(np.float32)
    encoder = load_text_encoder(args.text_model)
    projection, _ = cold_start_vectors(catalog, vectors, encoder=encoder)
    assert projection is not None
    table = ItemTable(args.dim, args.seed)
    table.load(vectors)
    weights = {"view": 1.0, "search": args.search_weight}
    config = InterestConfig(
        half_life_s=args.half_life, learn_items=False, event_weights=weights, recent_items=50
    )
    model = InterestModel(table, config)
    length = typical_norm(table.matrix)
    category = np.array([int(i.split("-")[0][1:]) for i in table.ids])

    def share(user: UserInterest, target: int) -> float:
        rows, _ = model.recommend([user], 10)
        return float((category[rows[0][rows[0] >= 0]] == target).mean())

    needed: dict[str, list[int]] = {"views only": [], "search, then views": []}
    after_search: list[float] = []
    for u in range(args.users):
        old, new = rng.choice(k, size=2, replace=False).tolist()
        ts = 0.0
        user = UserInterest.new(args.dim)
        for n in range(args.before):
            ts += 10.0
            item = f"c{old}-i{rng.integers(per)}"
            user = model.fold([user], [[EventInput(item, "view", ts, u * 1000 + n)]]).users[0]
        query = catalog[f"c{new}-i{rng.integers(per)}"]["title"]
        placed = place_texts([str(query)], projection, encoder, length)
        searched = add_signals(
            user.short_term,
            placed,
            np.array([args.search_weight]),
            np.array([ts + 5.0]),
            args.half_life,
        )
        starts = {
            "views only": user,
            "search, then views": UserInterest(searched, user.recent, mix_offset=user.mix_offset),
        }
        after_search.append(share(starts["search, then views"], new))
        views = [f"c{new}-i{rng.integers(per)}" for _ in range(30)]
        for name, start in starts.items():
            current, t, count = start, ts + 5.0, 0
            while share(current, new) < 0.5 and count < len(views):
                t += 10.0
                event = EventInput(views[count], "view", t, u * 1000 + 500 + count)
                current = model.fold([current], [[event]]).users[0]
                count += 1
            needed[name].append(count)
    print(
        f"{args.users} users, {k} categories, query placed by "
        f"{encoder.name if encoder else 'hashed words'}, search weight {args.search_weight:g}"
    )
    for name, counts in needed.items():
        print(
            f"{name:>20}: views after the switch until half of the top-10 is new: "
            f"mean {np.mean(counts):.2f}, median {np.median(counts):.0f}"
        )
    print(f"new category's share of the top-10 right after the search: {np.mean(after_search):.2f}")


def stream(args: argparse.Namespace) -> None:
    """The drift protocol with and without a search before each switch."""
    drift = DriftConfig(
        users=args.users, categories=args.categories, items_per_category=args.per_category,
        switch_every=args.switch_every, seed=args.seed + 7,
    )  # fmt: skip
    rng = np.random.default_rng(args.seed)
    titles = {
        f"c{c}-i{n}": " ".join([WORDS[c % len(WORDS)], *rng.choice(FILLER, size=2)])
        for c in range(args.categories)
        for n in range(args.per_category)
    }
    events = [
        DriftEvent(StreamEvent(e.event.user_id, e.event.item_id, e.event.type, e.event.ts),
                   e.category, e.switched)
        for e in DriftingUsers(drift).take(args.events)
    ]  # fmt: skip
    weights = {t: w for t, w in DEFAULT_EVENT_WEIGHTS.items() if t in DEFAULT_TYPE_MIX}
    interest = InterestConfig(half_life_s=args.half_life, event_weights=weights)
    config = EvalConfig(interest=interest, seed=args.seed)
    encoder = load_text_encoder(args.text_model)
    run = run_search_drift(
        events, titles, category_of, config, args.search_weight, args.warmup, encoder=encoder
    )
    print(
        f"drift protocol: {args.users} users, {args.events} events, {args.categories} categories, "
        f"{run.searches} searches (weight {args.search_weight:g}, "
        f"{encoder.name if encoder else 'hashed words'}), half-life {args.half_life:g} s"
    )
    for score in run.scores:
        print(
            f"{score.name:>18}: {score.adapted}/{score.switches} switches adapted; events until "
            f"half of the top-10 is new: mean {score.mean_events:.2f}, "
            f"median {score.median_events:.0f}"
        )
    for name, curve in run.share_curves.items():
        print(f"{name:>18}: new category's top-10 share after 1..5 events: "
              + " ".join(f"{x:.2f}" for x in curve[:5]))  # fmt: skip


if __name__ == "__main__":
    main()
