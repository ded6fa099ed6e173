"""The trigger's short look: only what could have become a target since the last one.

A tick does not re-read every open invoice to find new targets; these tests guard that
the short look still finds every kind of new target, and that what it cannot see (a
customer's tag removed) is found by the daily full look.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update

from sequences.engine import tick
from storage.models import Customer, Enrollment, Invoice, TriggerScan
from tests.sequences.engine_helpers import add_customer, add_invoice, enrollments, utc

MONDAY = utc(2026, 2, 9, 10)


async def _enrolled_invoices(engine) -> set[int]:
    return {row.invoice_id for row in await enrollments(engine) if row.invoice_id}


async def _marks(engine) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(select(TriggerScan.__table__))).all())


async def test_each_sequence_keeps_where_its_trigger_looked(engine):
    await tick(engine, now=MONDAY)
    marks = await _marks(engine)
    assert marks and all(m.scanned_for == MONDAY for m in marks)


async def test_an_invoice_added_after_a_look_is_found_by_the_next_short_look(engine):
    customer = await add_customer(engine)
    await tick(engine, now=MONDAY)  # the first look is a full one
    # Imported later, long overdue: a new row, whatever its dates.
    late = await add_invoice(engine, customer, "OLD-1", issued=date(2025, 1, 1),
                             due=date(2025, 1, 31))  # fmt: skip
    report = await tick(engine, now=MONDAY + timedelta(hours=1))
    assert report.enrolled == 1 and late in await _enrolled_invoices(engine)


async def test_an_invoice_crossing_its_due_date_between_looks_is_found(engine):
    customer = await add_customer(engine)
    soon = await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 10),
                             due=date(2026, 2, 12))  # fmt: skip
    await tick(engine, now=MONDAY)  # invoicing enrolls it; not overdue yet
    async with engine.begin() as conn:  # make it look old: only its due date can find it
        await conn.execute(
            update(Invoice.__table__).values(updated_at=utc(2020, 1, 1), created_at=utc(2020, 1, 1))
        )
    before = await enrollments(engine)
    await tick(engine, now=utc(2026, 2, 16, 10))  # a week later: past due
    new = [e for e in await enrollments(engine) if e.id not in {b.id for b in before}]
    assert [e.invoice_id for e in new] == [soon]


async def test_a_reopened_invoice_is_found_by_its_update(engine):
    customer = await add_customer(engine)
    inv = await add_invoice(engine, customer, "INV-1", issued=date(2025, 12, 1),
                            due=date(2025, 12, 31))  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(update(Invoice.__table__).values(status="paid", open_amount=0))
    await tick(engine, now=MONDAY)
    assert inv not in await _enrolled_invoices(engine)
    async with engine.begin() as conn:  # a payment reversed: open again, updated now
        await conn.execute(
            update(Invoice.__table__).values(
                status="open", open_amount=100, updated_at=utc(2099, 1, 1)
            )
        )
    await tick(engine, now=MONDAY + timedelta(hours=1))
    assert inv in await _enrolled_invoices(engine)


async def test_what_a_short_look_cannot_see_is_found_by_the_daily_full_look(engine):
    customer = await add_customer(engine)
    async with engine.begin() as conn:
        await conn.execute(update(Customer.__table__).values(tags=["no-reminders"]))
    inv = await add_invoice(engine, customer, "INV-1", issued=date(2025, 12, 1),
                            due=date(2025, 12, 31))  # fmt: skip
    await tick(engine, now=MONDAY)
    assert inv not in await _enrolled_invoices(engine)
    async with engine.begin() as conn:  # the tag is removed: nothing about the invoice changed
        await conn.execute(update(Customer.__table__).values(tags=[]))
    await tick(engine, now=MONDAY + timedelta(hours=1))
    assert inv not in await _enrolled_invoices(engine)  # the short look does not see it
    async with engine.begin() as conn:  # a day of wall-clock time later
        await conn.execute(update(TriggerScan.__table__).values(full_at=utc(2020, 1, 1)))
    await tick(engine, now=MONDAY + timedelta(hours=2))
    assert inv in await _enrolled_invoices(engine)


async def test_a_clock_set_back_looks_at_everything(engine):
    customer = await add_customer(engine)
    await tick(engine, now=MONDAY)
    inv = await add_invoice(engine, customer, "INV-1", issued=date(2025, 12, 1),
                            due=date(2025, 12, 31))  # fmt: skip
    async with engine.begin() as conn:  # hide it from every short look
        await conn.execute(update(Invoice.__table__).values(updated_at=utc(2020, 1, 1)))
        t = TriggerScan.__table__
        await conn.execute(update(t).values(max_invoice_id=inv))
    # A simulation run again from an earlier instant: the mark is ahead of the clock.
    await tick(engine, now=MONDAY - timedelta(days=1))
    assert inv in await _enrolled_invoices(engine)


async def test_a_customer_added_after_a_look_is_onboarded(engine):
    await tick(engine, now=MONDAY)
    newcomer = await add_customer(engine, "NEW", created_at=utc(2099, 1, 1))
    await tick(engine, now=MONDAY + timedelta(hours=1))
    onboarded = [e for e in await enrollments(engine) if e.target_type == "customer"]
    assert [e.customer_id for e in onboarded] == [newcomer]


async def test_enrollments_are_never_doubled_by_overlapping_candidates(engine):
    customer = await add_customer(engine)
    await tick(engine, now=MONDAY)
    # New, updated now and past its due date: all three short looks see it.
    await add_invoice(engine, customer, "INV-1", issued=date(2026, 1, 1), due=date(2026, 2, 8))
    await tick(engine, now=MONDAY + timedelta(days=1))
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Enrollment.invoice_id))).scalars().all()
    assert len(rows) == len(set(rows))
