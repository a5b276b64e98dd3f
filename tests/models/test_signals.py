"""Searches added after the fold equal searches folded in between the item events."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.short_term import ShortTermInterest, UserVector
from models.signals import add_signals


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.floats(0, 500), st.floats(-2, 5)), min_size=1, max_size=12
    ),
    st.booleans(),
)
def test_added_after_equals_interleaved(
    events: list[tuple[bool, float, float]], prior: bool
) -> None:
    rng = np.random.default_rng(len(events))
    learner = ShortTermInterest(half_life_s=60.0)
    start = (
        UserVector(rng.standard_normal(4).astype(np.float32), 0.0) if prior else UserVector.empty(4)
    )
    vectors = rng.standard_normal((len(events), 4)).astype(np.float32)
    ts = np.cumsum([gap for _, gap, _ in events])  # in time order
    interleaved, items_only = start, start
    signals = []
    for n, (is_signal, _, weight) in enumerate(events):
        interleaved = learner.update(interleaved, vectors[n], weight, float(ts[n]))
        if is_signal:
            signals.append(n)
        else:
            items_only = learner.update(items_only, vectors[n], weight, float(ts[n]))
    weights = np.array([events[n][2] for n in signals])
    combined = add_signals(items_only, vectors[signals], weights, ts[signals], 60.0)
    np.testing.assert_allclose(combined.vector, interleaved.vector, rtol=1e-4, atol=1e-4)
    assert combined.ts == interleaved.ts
