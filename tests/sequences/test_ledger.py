"""Ledger state changes on SQLite and PostgreSQL: promises, disputes, pauses, opt-out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, update

from sequences import disputes, ledger, promises
from storage.models import (
    Contact,
    Dispute,
    Enrollment,
    Event,
    Invoice,
    Pause,
    PauseScope,
    Promise,
    Task,
)
from tests.sequences.engine_helpers import (
    add_contact,
    add_customer,
    add_invoice,
    add_sequence_row,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def ids(engine) -> dict[str, int]:
    """A customer with one open invoice in a past-due sequence, and a disputes sequence."""
    customer = await add_customer(engine, email=None)
    ids = {
        "customer": customer,
        "contact": await add_contact(engine, customer, "email", "ap@acme.test"),
        "invoice": await add_invoice(
            engine, customer, "INV-1", issued=date(2026, 1, 1), due=date(2026, 1, 31)
        ),
        "past_due": await add_sequence_row(
            engine, "past-due-standard", "past_due", "invoice_overdue"
        ),
        "disputes": await add_sequence_row(
            engine, "disputes-standard", "disputes", "dispute_opened"
        ),
    }
    async with engine.begin() as conn:
        ids["enrollment"] = await conn.scalar(
            insert(Enrollment.__table__).returning(Enrollment.id).values(
                sequence_id=ids["past_due"], target_type="invoice", customer_id=customer,
                invoice_id=ids["invoice"], state="active", current_step=1, repeat_count=0,
                next_action_at=NOW + timedelta(days=2), started_at=NOW,
            )
        )  # fmt: skip
    return ids


async def _one(engine, table, where):
    async with engine.connect() as conn:
        return (await conn.execute(select(table).where(where))).one()


async def _events(engine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(Event.kind).order_by(Event.id))).scalars())


async def test_a_promise_pauses_until_its_date_plus_grace(engine, ids):
    async with engine.begin() as conn:
        await promises.record_promise(
            conn, invoice_id=ids["invoice"], promised_date=date(2026, 3, 9),
            amount=Decimal("100"), source="telegram", actor="contact:1", now=NOW,
        )  # fmt: skip
    e = await _one(engine, Enrollment.__table__, Enrollment.id == ids["enrollment"])
    assert (e.state, e.pause_reason) == ("paused", "promised")
    assert e.paused_until == datetime(2026, 3, 13, 0, 0, tzinfo=UTC)  # Mar 9 + 1 day + 3 days
    assert await _events(engine) == ["promise_recorded"]


async def test_a_second_promise_replaces_the_first_and_moves_the_wait(engine, ids):
    async with engine.begin() as conn:
        first = await promises.record_promise(
            conn, invoice_id=ids["invoice"], promised_date=date(2026, 3, 9), amount=None,
            source="slack", actor="U1", now=NOW,
        )  # fmt: skip
        await promises.record_promise(
            conn, invoice_id=ids["invoice"], promised_date=date(2026, 3, 20), amount=None,
            source="slack", actor="U1", now=NOW,
        )  # fmt: skip
    assert (await _one(engine, Promise.__table__, Promise.id == first)).status == "cancelled"
    e = await _one(engine, Enrollment.__table__, Enrollment.id == ids["enrollment"])
    assert e.paused_until == datetime(2026, 3, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"promised_date": date(2026, 3, 1)}, "in the past"),
        ({"amount": Decimal("-5")}, "greater than 0"),
    ],
)
async def test_a_bad_promise_is_refused_and_writes_nothing(engine, ids, kwargs, message):
    args = {"promised_date": date(2026, 3, 9), "amount": None} | kwargs
    async with engine.connect() as conn:
        with pytest.raises(ledger.LedgerError, match=message):
            await promises.record_promise(
                conn, invoice_id=ids["invoice"], source="slack", actor="U1", now=NOW, **args
            )
        await conn.rollback()
    assert await _events(engine) == []


async def test_a_promise_on_a_paid_invoice_is_refused(engine, ids):
    async with engine.begin() as conn:
        await conn.execute(update(Invoice.__table__).values(open_amount=0, status="paid"))
    async with engine.connect() as conn:
        with pytest.raises(ledger.LedgerError, match="not open"):
            await promises.record_promise(
                conn, invoice_id=ids["invoice"], promised_date=date(2026, 3, 9), amount=None,
                source="slack", actor="U1", now=NOW,
            )  # fmt: skip


async def test_a_kept_promise_and_a_broken_one(engine, ids):
    async with engine.begin() as conn:
        promise = await promises.record_promise(
            conn, invoice_id=ids["invoice"], promised_date=date(2026, 3, 9), amount=None,
            source="slack", actor="U1", now=NOW,
        )  # fmt: skip
    # Not broken yet on the last day of grace.
    async with engine.begin() as conn:
        early = await promises.settle_promises(conn, now=datetime(2026, 3, 12, 23, tzinfo=UTC))
    assert early == promises.PromiseOutcome(kept=[], broken=[])
    late = datetime(2026, 3, 13, 1, tzinfo=UTC)
    async with engine.begin() as conn:
        outcome = await promises.settle_promises(conn, now=late)
    assert outcome.broken == [promise]
    e = await _one(engine, Enrollment.__table__, Enrollment.id == ids["enrollment"])
    assert (e.state, e.notice, e.next_action_at) == ("active", "promise_broken", late)
    task = await _one(engine, Task.__table__, Task.kind == "broken_promise")
    assert task.assignee_slack_id == "U0OWNER1" and "INV-1" in task.title
    async with engine.begin() as conn:  # settling again does nothing more
        assert await promises.settle_promises(conn, now=late) == promises.PromiseOutcome([], [])


async def test_a_promise_is_kept_when_the_invoice_is_paid(engine, ids):
    async with engine.begin() as conn:
        promise = await promises.record_promise(
            conn, invoice_id=ids["invoice"], promised_date=date(2026, 3, 9), amount=None,
            source="slack", actor="U1", now=NOW,
        )  # fmt: skip
        await conn.execute(update(Invoice.__table__).values(open_amount=0, status="paid"))
        outcome = await promises.settle_promises(conn, now=NOW + timedelta(days=1))
    assert outcome.kept == [promise]
    assert "promise_kept" in await _events(engine)


async def test_a_dispute_pauses_the_invoice_and_its_resolution_resumes_it(engine, ids):
    async with engine.begin() as conn:
        dispute = await disputes.open_dispute(
            conn, invoice_id=ids["invoice"], reason="wrong quantity", actor="U1", now=NOW
        )
    e = await _one(engine, Enrollment.__table__, Enrollment.id == ids["enrollment"])
    assert (e.state, e.pause_reason, e.paused_until) == ("paused", "disputed", None)
    async with engine.connect() as conn:
        with pytest.raises(ledger.LedgerError, match="already has an open dispute"):
            await disputes.open_dispute(
                conn, invoice_id=ids["invoice"], reason="again", actor="U1", now=NOW
            )
    async with engine.begin() as conn:
        assert await disputes.acknowledge_dispute(conn, dispute_id=dispute, actor="U2", now=NOW)
        assert not await disputes.acknowledge_dispute(conn, dispute_id=dispute, actor="U2", now=NOW)
        later = NOW + timedelta(days=3)
        await disputes.resolve_dispute(
            conn, dispute_id=dispute, resolution="credit note for 2 units",
            credit_amount=Decimal("30"), actor="U2", now=later,
        )  # fmt: skip
    d = await _one(engine, Dispute.__table__, Dispute.id == dispute)
    assert (d.status, d.acknowledged_by, d.credit_amount) == ("resolved", "U2", Decimal(30))
    inv = await _one(engine, Invoice.__table__, Invoice.id == ids["invoice"])
    assert inv.open_amount == Decimal(70) and inv.status == "open"
    e = await _one(engine, Enrollment.__table__, Enrollment.id == ids["enrollment"])
    assert (e.state, e.next_action_at) == ("active", later)
    assert await _events(engine) == ["dispute_opened", "dispute_acknowledged", "dispute_resolved"]


async def test_a_dispute_needs_a_reason_and_a_credit_within_the_open_amount(engine, ids):
    async with engine.connect() as conn:
        with pytest.raises(ledger.LedgerError, match="needs a reason"):
            await disputes.open_dispute(conn, invoice_id=ids["invoice"], reason="  ", actor="U",
                                      now=NOW)  # fmt: skip
        dispute = await disputes.open_dispute(
            conn, invoice_id=ids["invoice"], reason="late delivery", actor="U", now=NOW
        )
        with pytest.raises(ledger.LedgerError, match="at most the open amount"):
            await disputes.resolve_dispute(
                conn, dispute_id=dispute, resolution="credit", credit_amount=Decimal(500),
                actor="U", now=NOW,
            )  # fmt: skip


async def test_pause_and_resume_a_whole_sequence(engine, ids):
    until = NOW + timedelta(days=7)
    async with engine.begin() as conn:
        await ledger.pause(
            conn, scope=PauseScope.SEQUENCE, sequence_name="past-due-standard", until=until,
            reason="month-end close", actor="U0MANAGER", now=NOW,
        )  # fmt: skip
    p = await _one(engine, Pause.__table__, Pause.sequence_name == "past-due-standard")
    assert (p.until, p.reason, p.created_by) == (until, "month-end close", "U0MANAGER")
    async with engine.begin() as conn:
        lifted = await ledger.resume(
            conn, scope=PauseScope.SEQUENCE, sequence_name="past-due-standard", actor="U0MANAGER",
            now=NOW + timedelta(days=1),
        )  # fmt: skip
    assert lifted == 1
    assert await _events(engine) == ["paused", "resumed"]


async def test_a_pause_must_name_its_target_and_end_in_the_future(engine, ids):
    async with engine.connect() as conn:
        with pytest.raises(ledger.LedgerError, match="needs its customer"):
            await ledger.pause(conn, scope=PauseScope.CUSTOMER, until=None, reason=None,
                               actor="U", now=NOW)  # fmt: skip
        with pytest.raises(ledger.LedgerError, match="in the future"):
            await ledger.pause(conn, scope=PauseScope.CUSTOMER, customer_id=ids["customer"],
                               until=NOW, reason=None, actor="U", now=NOW)  # fmt: skip


async def test_opt_out_is_recorded_once(engine, ids):
    async with engine.begin() as conn:
        assert await ledger.opt_out(conn, contact_id=ids["contact"], actor="contact", now=NOW)
        assert not await ledger.opt_out(conn, contact_id=ids["contact"], actor="contact", now=NOW)
    c = await _one(engine, Contact.__table__, Contact.id == ids["contact"])
    assert c.opted_out_at == NOW
    assert await _events(engine) == ["opted_out"]
