"""Engine scenarios on SQLite and PostgreSQL (time is a parameter; nothing sleeps)."""

from __future__ import annotations

from datetime import date, timedelta

from tests.sequences.engine_helpers import (
    Clock,
    add_customer,
    add_invoice,
    enrollments,
    outbox,
    utc,
)


async def test_two_overdue_invoices_of_one_customer_make_one_message(engine):
    customer = await add_customer(engine)
    # On Feb 10, INV-1 is at its firm step (due+7d) and INV-2 at its gentle one (due+1d).
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 4), due=date(2026, 2, 3))
    await add_invoice(engine, customer, "INV-2", issued=date(2026, 1, 9), due=date(2026, 2, 8))
    clock = Clock(engine)
    report = await clock.at(utc(2026, 2, 10, 10))  # a Tuesday, inside the window
    assert report.enrolled == 2 and report.messages == 1
    [message] = clock.sent
    assert "INV-1" in message.body and "INV-2" in message.body
    assert "over a week overdue" in message.body  # the most overdue invoice's step speaks
    assert message.address == "ap@example.test"


async def test_a_tick_run_twice_writes_nothing_new(engine):
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 1), due=date(2026, 1, 31))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 10, 10))
    before = (await outbox(engine), await enrollments(engine))
    again = await clock.at(utc(2026, 2, 10, 10))
    assert (again.enrolled, again.messages, again.due) == (0, 0, 0)
    assert (await outbox(engine), await enrollments(engine)) == before
