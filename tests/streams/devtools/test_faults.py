"""The fault-matrix soak, short form: every kind of fault, nothing lost, doubled or misfiled."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from streams.devtools.embedded import EmbeddedServices
from streams.devtools.faults import (
    BAD_KINDS,
    SHORT_FORM,
    expected_state,
    fault_schedule,
    is_rejected,
    run_soak,
    soak_stream,
)
from streams.settings import Settings
from streams.worker.events import EventRules

SETTINGS = Settings.from_env({})
RULES = EventRules(
    frozenset(SETTINGS.event_weights), SETTINGS.max_event_bytes, SETTINGS.max_future_skew_s
)


def test_the_stream_holds_every_kind_of_bad_message_and_only_rejected_ones() -> None:
    messages = soak_stream(events=500, users=20, bad=200, seed=3, rules=RULES, oversized=4)
    bad = [m for m in messages if m.bad]
    assert {m.bad for m in bad} == set(BAD_KINDS)
    assert all(is_rejected(m, RULES) for m in bad)
    assert not any(is_rejected(m, RULES) for m in messages if not m.bad)
    assert sum(expected_state(messages, SETTINGS).counts.values()) == 500


@hypothesis_settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(kills=st.integers(min_value=0, max_value=12), seed=st.integers(0, 1000))
def test_the_schedule_keeps_rebalances_in_order_and_never_runs_out_of_workers(
    kills: int, seed: int
) -> None:
    names = [name for name, _ in fault_schedule(kills, 1.0, 1.0, seed)]
    assert names.count("kill -9 worker") == kills
    steps = [n for n in names if n.startswith("rebalance")]
    assert steps == ["rebalance 2->1", "rebalance 1->3", "rebalance 3->1", "rebalance 1->2"]


def test_recent_items_and_history_of_the_reference_follow_the_worker_rules() -> None:
    messages = soak_stream(events=300, users=3, bad=0, seed=5, rules=RULES)
    expected = expected_state(messages, SETTINGS)
    for user_id, recent in expected.recent.items():
        assert len(recent) == len(set(recent)) <= SETTINGS.recent_items
        items = [m.item_id for m in messages if m.user_id == user_id]
        assert recent[0] == items[-1]
        assert len(expected.history[user_id]) <= SETTINGS.history_length


@pytest.mark.slow
def test_short_soak_loses_and_doubles_nothing_under_every_fault(
    services: EmbeddedServices, tmp_path: Path
) -> None:
    result = run_soak(services.kafka_bootstrap, tmp_path, SHORT_FORM, echo=lambda _: None)
    print("\n".join(result.timeline))
    print(result.table())
    assert len(result.faults) == 10 + SHORT_FORM.kills
    assert (result.lost, result.doubled) == (0, 0)
    assert (result.wrong_recent, result.wrong_history) == (0, 0)
    assert (result.dlq_missing, result.dlq_wrong_reason, result.dlq_valid) == (0, 0, 0)
    assert result.unexpected_exits == []
    assert result.ok
