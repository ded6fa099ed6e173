"""A customer's status (sequences.status): money per currency, aging, and the open items."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from sequences.disputes import open_dispute
from sequences.promises import record_promise
from sequences.status import aging_bucket, customer_status
from storage.models import Customer
from tests.sequences.engine_helpers import add_customer, add_invoice, utc

NOW = utc(2026, 3, 2, 10)


@pytest.mark.parametrize(
    ("late", "bucket"),
    [(-5, "current"), (0, "current"), (1, "1-30"), (30, "1-30"), (31, "31-60"), (60, "31-60"),
     (61, "61-90"), (90, "61-90"), (91, "90+"), (400, "90+")],
)  # fmt: skip
def test_aging_buckets_follow_the_kpis(late, bucket):
    assert aging_bucket(late) == bucket


async def test_status_keeps_currencies_apart_and_marks_disputed_and_promised(engine):
    customer_id = await add_customer(engine, "C1")
    other = await add_customer(engine, "C2")
    usd = await add_invoice(engine, customer_id, "A-1", issued=date(2025, 11, 1),
                            due=date(2025, 12, 1), amount="100.10")  # fmt: skip
    eur = await add_invoice(engine, customer_id, "A-2", issued=date(2026, 2, 1),
                            due=date(2026, 3, 10), amount="20.00", currency="EUR")  # fmt: skip
    await add_invoice(engine, other, "B-1", issued=date(2026, 1, 1), due=date(2026, 1, 2))
    async with engine.begin() as conn:
        await open_dispute(conn, invoice_id=usd, reason="price", actor="U1", now=NOW)
        await record_promise(conn, invoice_id=eur, promised_date=date(2026, 3, 20),
                             amount=Decimal("20"), source="slack", actor="U1", now=NOW)  # fmt: skip
        row = (
            await conn.execute(select(Customer.__table__).where(Customer.id == customer_id))
        ).one()
        status = await customer_status(conn, row, today=date(2026, 3, 2))
    assert status.balance == {"USD": Decimal("100.10"), "EUR": Decimal("20.00")}
    assert status.aging["USD"]["90+"] == Decimal("100.10")
    assert status.aging["EUR"]["current"] == Decimal("20.00")
    assert [(i.number, i.days_overdue, i.disputed, i.promised_for) for i in status.invoices] == [
        ("A-1", 91, True, None), ("A-2", 0, False, date(2026, 3, 20)),
    ]  # fmt: skip
    assert status.invoice_count == 2
    assert [(d.invoice, d.reason, d.status) for d in status.disputes] == [("A-1", "price", "open")]
    assert [(p.invoice, p.amount, p.currency) for p in status.promises] == [
        ("A-2", Decimal("20"), "EUR")
    ]


async def test_a_customer_with_nothing_open_has_an_empty_status(engine):
    customer_id = await add_customer(engine, "C1")
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(Customer.__table__).where(Customer.id == customer_id))
        ).one()
        status = await customer_status(conn, row, today=date(2026, 3, 2))
    assert (status.balance, status.invoices, status.sequences, status.touches) == ({}, [], [], [])
