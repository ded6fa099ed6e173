"""The escalation executor, pure: never a step after acknowledgement, catch-up runs one step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sequences.definition_loading import load_library
from sequences.escalation import ChainStep, execute, freeze_chain
from sequences.planner import CustomerFacts, DisputeFacts

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)  # a Monday
CHAIN = [ChainStep(T0 + timedelta(days=d), ("managers",)) for d in (0, 1, 3, 5)]


def test_the_library_chain_is_frozen_at_the_local_time_of_opening_on_business_days():
    [disputes] = [s for s in load_library() if s.name == "disputes-standard"]
    customer = CustomerFacts(1, "C1", "Customer C1", timezone="Europe/Paris", country="FR")
    opened = datetime(2026, 3, 6, 14, 30, tzinfo=UTC)  # Friday 15:30 in Paris
    chain = freeze_chain(disputes, customer=customer, dispute=DisputeFacts(1, "open", opened),
                         started_at=opened)  # fmt: skip
    assert [s.targets for s in chain] == [("team",)] + [("managers",)] * 5
    assert chain[0].at == opened
    assert chain[1].at == datetime(2026, 3, 9, 14, 30, tzinfo=UTC)  # Monday, same local time
    assert chain[2].at == datetime(2026, 3, 11, 14, 30, tzinfo=UTC)  # two business days on


def test_a_step_runs_when_due_and_says_when_to_look_again():
    before = execute(CHAIN, level=1, dispute_status="open", now=T0 + timedelta(hours=2))
    assert (before.run, before.level, before.next_at, before.stop) == (None, 1, CHAIN[1].at, None)
    due = execute(CHAIN, level=1, dispute_status="open", now=CHAIN[1].at)
    assert (due.run, due.level, due.next_at, due.stop) == (1, 2, CHAIN[2].at, None)


def test_after_downtime_only_the_latest_due_step_runs():
    late = execute(CHAIN, level=1, dispute_status="open", now=CHAIN[2].at + timedelta(hours=1))
    assert (late.run, late.level, late.next_at) == (2, 3, CHAIN[3].at)


def test_the_last_step_exhausts_the_chain():
    last = execute(CHAIN, level=3, dispute_status="open", now=CHAIN[3].at)
    assert (last.run, last.level, last.next_at, last.stop) == (3, 4, None, "exhausted")


@given(
    level=st.integers(0, len(CHAIN)),
    hours=st.integers(0, 24 * 10),
    status=st.sampled_from(["acknowledged", "resolved"]),
)
def test_never_a_step_once_acknowledged_or_resolved(level: int, hours: int, status: str):
    outcome = execute(CHAIN, level=level, dispute_status=status, now=T0 + timedelta(hours=hours))
    assert outcome.run is None and outcome.next_at is None and outcome.stop == status


@given(level=st.integers(0, len(CHAIN)), hours=st.integers(0, 24 * 10))
def test_a_run_moves_forward_and_a_rerun_at_the_same_instant_does_nothing(level: int, hours: int):
    now = T0 + timedelta(hours=hours)
    first = execute(CHAIN, level=level, dispute_status="open", now=now)
    assert first.level >= level
    again = execute(CHAIN, level=first.level, dispute_status="open", now=now)
    assert again.run is None
