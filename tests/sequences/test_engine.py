"""Engine scenarios on SQLite and PostgreSQL (time is a parameter; nothing sleeps)."""

from __future__ import annotations

from datetime import date, timedelta

from tests.sequences.engine_helpers import (
    Clock,
    add_customer,
    add_invoice,
    enrollments,
    outbox,
    tasks,
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


async def _pay(engine, number: str, amount: str) -> None:
    from decimal import Decimal

    from sqlalchemy import update

    from storage.models import Invoice

    async with engine.begin() as conn:
        table = Invoice.__table__
        row = (await conn.execute(table.select().where(table.c.number == number))).one()
        left = row.open_amount - Decimal(amount)
        await conn.execute(
            update(table)
            .where(table.c.id == row.id)
            .values(open_amount=left, status="paid" if left <= 0 else "open")
        )


async def test_a_paid_invoice_is_never_touched_again(engine):
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # gentle reminder
    await _pay(engine, "INV-1", "100.00")
    for day in range(6, 40):
        await clock.at(utc(2026, 2, 1, 10) + timedelta(days=day))
    assert len(clock.sent) == 1
    [enrollment] = await enrollments(engine)
    assert (enrollment.state, enrollment.exit_reason) == ("exited", "paid")


async def test_a_part_payment_keeps_the_step(engine):
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))  # due+1d: gentle
    await _pay(engine, "INV-1", "40.00")
    await clock.at(utc(2026, 2, 11, 10))  # due+7d: firm, for what is left
    gentle, firm = clock.sent
    assert "$100.00" in gentle.body
    assert "$60.00" in firm.body and "overdue" in firm.subject.lower() + firm.body.lower()
    [enrollment] = await enrollments(engine)
    assert (enrollment.state, enrollment.current_step) == ("active", 2)  # next: the call task


async def test_catch_up_after_a_month_of_downtime_sends_one_message(engine):
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 5, 10))
    report = await clock.at(utc(2026, 3, 10, 10))  # a month later, several steps missed
    assert report.messages == 1 and report.skipped_positions >= 2
    assert len(clock.sent) == 2
    assert "final" in clock.sent[-1].subject.lower() or "final" in clock.sent[-1].body.lower()
    # What reaches the team is not a burst for the customer: the missed call task and
    # the escalation are both there.
    assert sorted(t.kind for t in await tasks(engine)) == ["escalation", "sequence_task"]


async def test_the_frequency_cap_holds_a_second_sequence_back(engine):
    customer = await add_customer(engine)
    # INV-1 overdue (past-due sequence), INV-2 due in 3 days (invoicing reminder due-3d).
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 9), due=date(2026, 2, 8))
    clock = Clock(engine)
    await clock.at(utc(2026, 2, 9, 10))  # gentle for INV-1
    await add_invoice(engine, customer, "INV-2", issued=date(2026, 2, 10), due=date(2026, 2, 13))
    held = await clock.at(utc(2026, 2, 10, 10))  # delivery of INV-2 would be within 2 days
    assert held.capped == 1 and len(clock.sent) == 1
    await clock.at(utc(2026, 2, 11, 11))  # 49 hours later: allowed
    assert len(clock.sent) == 2
    assert clock.sent[1].scheduled_for - clock.sent[0].scheduled_for >= timedelta(days=2)


async def test_a_message_waits_for_the_customers_window_in_their_time_zone(engine):
    customer = await add_customer(engine, timezone="America/Los_Angeles", country="US")
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4))
    clock = Clock(engine)
    early = await clock.at(utc(2026, 2, 5, 15))  # 07:00 in Los Angeles: before 09:00
    assert early.messages == 0 and early.waited == 1
    await clock.at(utc(2026, 2, 5, 17))  # 09:00 in Los Angeles
    assert len(clock.sent) == 1


async def _hourly(clock: Clock, start, days: int) -> None:
    for hour in range(days * 24):
        await clock.at(start + timedelta(hours=hour))


async def test_dst_week_in_europe_keeps_nine_oclock_local(engine):
    customer = await add_customer(engine, timezone="Europe/Paris", country="FR")
    # due+1d is Thursday 26 March (CET); due+7d is Wednesday 1 April (CEST).
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 2, 23), due=date(2026, 3, 25))
    clock = Clock(engine)
    await _hourly(clock, utc(2026, 3, 26), 7)  # from the day after due: past-due only
    sent = [m.scheduled_for for m in clock.sent]
    assert sent == [utc(2026, 3, 26, 8), utc(2026, 4, 1, 7)]  # 09:00 Paris, both times


async def test_dst_week_in_the_us_keeps_nine_oclock_local(engine):
    customer = await add_customer(engine, timezone="America/New_York", country="US")
    # due+1d is Friday 6 March (EST); due+7d is Thursday 12 March (EDT).
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 2, 3), due=date(2026, 3, 5))
    clock = Clock(engine)
    await _hourly(clock, utc(2026, 3, 6), 7)
    sent = [m.scheduled_for for m in clock.sent]
    assert sent == [utc(2026, 3, 6, 14), utc(2026, 3, 12, 13)]  # 09:00 New York, both times


async def test_the_pay_link_names_the_invoices_customer_and_amount(engine):
    from sequences.engine import EngineConfig

    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 5), due=date(2026, 2, 4),
                      amount="1234.50")  # fmt: skip
    clock = Clock(
        engine, EngineConfig(pay_url="https://pay.example.test/{customer}/{invoice}?a={amount}")
    )
    await clock.at(utc(2026, 2, 5, 10))
    [message] = clock.sent
    assert "https://pay.example.test/C1/INV-1?a=1234.50" in message.body
    assert 'href="https://pay.example.test/C1/INV-1?a=1234.50"' in message.payload["html"]


async def test_a_delivery_and_a_past_due_reminder_are_not_merged(engine):
    """Regression: one message used to carry a not-yet-due invoice under past-due words."""
    customer = await add_customer(engine)
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 9), due=date(2026, 2, 8))
    await add_invoice(engine, customer, "INV-2", issued=date(2026, 2, 9), due=date(2026, 3, 11))
    clock = Clock(engine)
    report = await clock.at(utc(2026, 2, 9, 10))  # INV-1 gentle; INV-2 delivery
    assert report.messages == 1 and report.capped == 1
    [first] = clock.sent
    assert "INV-1" in first.body and "INV-2" not in first.body
    await clock.at(utc(2026, 2, 11, 11))
    assert "INV-2" in clock.sent[-1].body and "INV-1" not in clock.sent[-1].body
