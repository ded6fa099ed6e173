"""Tomorrow's customer touches per owner, the once-a-day claim, Hold, Send now, Skip step."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sequences.engine import tick
from sequences.forewarning import (
    HOLD_REASON,
    claim_forewarning,
    forewarn_day,
    hold_account,
    tomorrows_touches,
)
from sequences.ledger import LedgerError
from sequences.step_moves import StepMoveError, send_now, skip_step
from storage.models import Event, Pause
from tests.sequences.engine_helpers import enrollments, outbox, utc
from tests.sequences.forewarning_ledger import COLLECTOR, OTHER, build_ledger

UTC_ZONE = ZoneInfo("UTC")
MONDAY = date(2026, 3, 2)
AFTERNOON = utc(2026, 3, 2, 15)


def test_the_forewarning_is_due_once_its_local_time_has_passed():
    paris = ZoneInfo("Europe/Paris")
    assert forewarn_day(utc(2026, 3, 2, 13, 59), paris, time(15)) is None
    assert forewarn_day(utc(2026, 3, 2, 14, 0), paris, time(15)) == MONDAY
    assert forewarn_day(utc(2026, 3, 2, 22, 30), paris, time(15)) == MONDAY
    assert forewarn_day(utc(2026, 3, 2, 23, 30), paris, time(15)) is None  # Tuesday 00:30


async def test_tomorrows_touches_are_listed_per_owner_with_their_local_send_time(engine):
    ledger = await build_ledger(engine)
    async with engine.connect() as conn:
        touches = await tomorrows_touches(conn, day=MONDAY, zone=UTC_ZONE, now=AFTERNOON)
    assert sorted(touches) == [COLLECTOR, OTHER]
    (mine,) = touches[COLLECTOR]  # C's touch is on Thursday: not listed
    assert (mine.external_id, mine.invoice, mine.step_number, mine.what) == (
        "A", "INV-A", 1, "email: past_due_gentle",
    )  # fmt: skip
    assert mine.enrollment_id == ledger.enrollments["A"]
    assert f"{mine.local_send_at():%a %H:%M}" == "Tue 09:00"  # New York's window opens
    assert mine.send_at == utc(2026, 3, 3, 14)
    assert [t.external_id for t in touches[OTHER]] == ["B"]


async def test_a_held_account_and_a_paid_invoice_are_not_listed(engine):
    ledger = await build_ledger(engine)
    async with engine.begin() as conn:
        assert await hold_account(conn, customer_id=ledger.customers["A"], actor=COLLECTOR,
                                  now=AFTERNOON)  # fmt: skip
        assert not await hold_account(conn, customer_id=ledger.customers["A"], actor=COLLECTOR,
                                      now=AFTERNOON)  # fmt: skip
        touches = await tomorrows_touches(conn, day=MONDAY, zone=UTC_ZONE, now=AFTERNOON)
        pauses = (await conn.execute(select(Pause.__table__))).all()
    assert COLLECTOR not in touches
    assert [(p.scope, p.customer_id, p.reason, p.until) for p in pauses] == [
        ("customer", ledger.customers["A"], HOLD_REASON, None)
    ]


async def test_holding_an_unknown_customer_is_refused(engine):
    async with engine.begin() as conn:
        with pytest.raises(LedgerError, match="no customer"):
            await hold_account(conn, customer_id=999_999, actor=COLLECTOR, now=AFTERNOON)


async def test_a_collectors_forewarning_is_claimed_once_per_day(engine):
    claims = [
        await claim_forewarning(engine, owner=COLLECTOR, day=MONDAY, worker=w, now=AFTERNOON)
        for w in ("one", "two")
    ]
    other = await claim_forewarning(engine, owner=OTHER, day=MONDAY, worker="two", now=AFTERNOON)
    assert claims == [True, False] and other


async def test_send_now_makes_the_next_tick_send_the_step_once(engine):
    ledger = await build_ledger(engine)
    now = utc(2026, 3, 2, 15, 5)  # 10:05 in New York: inside A's window
    async with engine.begin() as conn:
        moved = await send_now(conn, enrollment_id=ledger.enrollments["A"], actor=COLLECTOR,
                               now=now)  # fmt: skip
        with pytest.raises(StepMoveError, match="already waiting"):
            await send_now(conn, enrollment_id=ledger.enrollments["A"], actor=COLLECTOR, now=now)
    assert (moved.left_step, moved.next_step) == (1, 2)
    await tick(engine, now=utc(2026, 3, 2, 15, 10))
    sent = [m for m in await outbox(engine) if m.customer_id == ledger.customers["A"]]
    assert len(sent) == 1 and "INV-A" in sent[0].body
    # Tuesday's step was the one sent: nothing more for A on Tuesday.
    await tick(engine, now=utc(2026, 3, 3, 15))
    assert len([m for m in await outbox(engine) if m.customer_id == ledger.customers["A"]]) == 1
    (row,) = [e for e in await enrollments(engine) if e.id == ledger.enrollments["A"]]
    assert (row.current_step, row.notice, row.next_action_at) == (1, None, utc(2026, 3, 7, 5))


async def test_send_now_outside_the_send_window_waits_for_it(engine):
    ledger = await build_ledger(engine)
    evening = utc(2026, 3, 2, 23)  # 18:00 in New York
    async with engine.begin() as conn:
        await send_now(conn, enrollment_id=ledger.enrollments["A"], actor=COLLECTOR, now=evening)
    await tick(engine, now=evening)
    assert not [m for m in await outbox(engine) if m.customer_id == ledger.customers["A"]]
    await tick(engine, now=utc(2026, 3, 3, 14))
    assert len([m for m in await outbox(engine) if m.customer_id == ledger.customers["A"]]) == 1


async def test_skip_step_moves_to_the_next_step_and_records_it(engine):
    ledger = await build_ledger(engine)
    enrollment = ledger.enrollments["B"]
    async with engine.begin() as conn:
        moved = await skip_step(conn, enrollment_id=enrollment, actor=COLLECTOR, now=AFTERNOON,
                                at_step=1)  # fmt: skip
        with pytest.raises(StepMoveError, match="at step 2 now"):
            await skip_step(conn, enrollment_id=enrollment, actor=COLLECTOR, now=AFTERNOON,
                            at_step=1)  # fmt: skip
        events = (await conn.execute(
            select(Event.__table__).where(Event.kind == "step_skipped"))).all()  # fmt: skip
    assert (moved.left_step, moved.next_step) == (1, 2)
    assert [(e.enrollment_id, e.actor, e.data["step"]) for e in events] == [
        (enrollment, COLLECTOR, 1)
    ]
    await tick(engine, now=utc(2026, 3, 3, 10))  # step 1's day: nothing is sent to B
    assert not [m for m in await outbox(engine) if m.customer_id == ledger.customers["B"]]
    async with engine.begin() as conn:
        last = await skip_step(conn, enrollment_id=enrollment, actor=COLLECTOR, now=AFTERNOON)
    assert last.next_step is None
    (row,) = [e for e in await enrollments(engine) if e.id == enrollment]
    assert (row.state, row.exit_reason) == ("completed", "completed")
    async with engine.begin() as conn:
        with pytest.raises(StepMoveError, match="is completed, not active"):
            await skip_step(conn, enrollment_id=enrollment, actor=COLLECTOR, now=AFTERNOON)
        with pytest.raises(StepMoveError, match="no enrollment"):
            await send_now(conn, enrollment_id=999_999, actor=COLLECTOR, now=AFTERNOON)
