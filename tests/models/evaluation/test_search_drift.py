"""The drift protocol with searches: a search before a switch speeds adaptation up."""

from __future__ import annotations

from models.evaluation.config import EvalConfig
from models.evaluation.events import DriftEvent, StreamEvent
from models.evaluation.search_drift import WITH, WITHOUT, run_search_drift
from models.user_interest import InterestConfig
from streams.devtools.synthetic import DriftConfig, DriftingUsers, category_of

WORDS = ["shoe", "hat", "chair", "lamp"]


def test_a_search_before_each_switch_adapts_sooner() -> None:
    drift = DriftConfig(users=30, categories=4, items_per_category=20, switch_every=30, seed=3)
    titles = {f"c{c}-i{n}": f"{WORDS[c]} model {n}" for c in range(4) for n in range(20)}
    events = [
        DriftEvent(StreamEvent(e.event.user_id, e.event.item_id, "view", e.event.ts), e.category,
                   e.switched)
        for e in DriftingUsers(drift).take(4000)
    ]  # fmt: skip
    config = EvalConfig(interest=InterestConfig(half_life_s=1800.0, event_weights={"view": 1.0}))
    run = run_search_drift(events, titles, category_of, config, 5.0, warmup=1000, refit_every=1500)
    scores = {s.name: s for s in run.scores}
    assert run.searches > 30 and scores[WITH].switches == scores[WITHOUT].switches
    assert scores[WITH].mean_events is not None and scores[WITHOUT].mean_events is not None
    assert scores[WITH].mean_events < scores[WITHOUT].mean_events
    assert run.share_curves[WITH][0] > run.share_curves[WITHOUT][0]
