"""The worked example of docs/kpis.md, written into a database row by row.

Two currencies, part payments, a payment and a dispute credit dated after the as-of
date, an invoice issued after it, promises kept and broken, open disputes, and A/B
touches. The figures the docs derive by hand are asserted in tests/sequences/test_kpi.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import (
    Customer,
    Dispute,
    Invoice,
    OutboxMessage,
    Payment,
    Promise,
    Sequence,
)

AS_OF = date(2026, 3, 15)
CREATED = datetime(2025, 1, 1, tzinfo=UTC)

CUSTOMERS = [("A", "U0ANNA01"), ("B", "U0BOB001"), ("C", None)]
# number, customer, issued, due, amount, currency, payments [(day, amount)]
INVOICES = [
    ("U1", "A", "2026-01-05", "2026-02-04", "1000.00", "USD",
     [("2026-02-20", "400.00"), ("2026-03-20", "600.00")]),
    ("U2", "A", "2026-02-10", "2026-03-12", "500.00", "USD", [("2026-03-10", "500.00")]),
    ("U3", "B", "2026-03-01", "2026-03-31", "2000.00", "USD", []),
    ("U4", "B", "2025-11-01", "2025-12-01", "300.00", "USD", []),
    ("U5", "A", "2026-03-14", "2026-04-13", "700.00", "USD", [("2026-03-14", "200.00")]),
    ("U6", "B", "2026-03-20", "2026-04-19", "900.00", "USD", []),
    ("U7", "A", "2026-01-20", "2026-02-19", "250.00", "USD", []),
    ("E1", "C", "2026-02-01", "2026-03-03", "1200.00", "EUR", [("2026-03-05", "200.00")]),
    ("E2", "C", "2025-10-01", "2025-10-31", "800.00", "EUR", [("2025-11-15", "800.00")]),
]  # fmt: skip
# invoice, promised, created, status, resolved
PROMISES = [
    ("U7", "2026-03-10", "2026-03-02T10:00", "broken", "2026-03-14T10:00"),
    ("U2", "2026-03-10", "2026-03-05T10:00", "kept", "2026-03-10T12:00"),
    ("U3", "2026-03-25", "2026-03-12T10:00", "pending", None),
]
# invoice, opened, acknowledged, resolved, credit
DISPUTES = [
    ("U1", "2026-03-05T09:00", None, None, None),
    ("U4", "2026-03-13T00:00", "2026-03-13T08:00", None, None),
    ("U7", "2026-02-01T00:00", None, "2026-02-10T00:00", None),
    ("E1", "2026-03-06T00:00", None, "2026-03-20T00:00", "100.00"),
]
# variant, invoice, sent
TOUCHES = [
    ("past_due_firm", "U1", "2026-02-16T10:00"),
    ("past_due_firm", "U7", "2026-03-01T10:00"),
    ("past_due_firm_short", "U4", "2026-03-02T10:00"),
    ("past_due_firm_short", "U2", "2026-03-05T10:00"),
    (None, "E1", "2026-03-01T10:00"),
    ("past_due_firm", "U3", "2026-03-10T10:00"),  # under 7 days old at D: not counted
]


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


async def build_example(engine: AsyncEngine) -> dict[str, int]:
    """Write the example ledger; returns invoice ids by number."""
    async with engine.begin() as conn:
        customers = {}
        for key, owner in CUSTOMERS:
            customers[key] = await conn.scalar(
                insert(Customer.__table__).returning(Customer.id).values(
                    external_id=key, name=f"Customer {key}", timezone="UTC", autopay=False,
                    tags=[], owner_slack_id=owner, created_at=CREATED, updated_at=CREATED,
                )
            )  # fmt: skip
        credits = {d[0]: Decimal(d[4]) for d in DISPUTES if d[4]}
        invoices = {}
        for number, cust, issued, due, amount, currency, payments in INVOICES:
            paid = sum((Decimal(a) for _, a in payments), Decimal(0))
            left = Decimal(amount) - paid - credits.get(number, Decimal(0))
            invoices[number] = await conn.scalar(
                insert(Invoice.__table__).returning(Invoice.id).values(
                    number=number, customer_id=customers[cust],
                    issue_date=date.fromisoformat(issued), due_date=date.fromisoformat(due),
                    amount=Decimal(amount), open_amount=left, currency=currency,
                    status="paid" if left <= 0 else "open",
                    paid_at=date.fromisoformat(payments[-1][0]) if left <= 0 else None,
                    created_at=CREATED, updated_at=CREATED,
                )
            )  # fmt: skip
            for day, paid_amount in payments:
                await conn.execute(
                    insert(Payment.__table__).values(
                        invoice_id=invoices[number], paid_at=date.fromisoformat(day),
                        amount=Decimal(paid_amount), natural_key=f"row:{day}:{paid_amount}",
                        created_at=CREATED,
                    )
                )  # fmt: skip
        customer_of = {number: customers[cust] for number, cust, *_ in INVOICES}
        for number, promised, created, status, resolved in PROMISES:
            await conn.execute(
                insert(Promise.__table__).values(
                    invoice_id=invoices[number], customer_id=customer_of[number],
                    promised_date=date.fromisoformat(promised), status=status, source="slack",
                    created_at=at(created), resolved_at=at(resolved),
                )
            )  # fmt: skip
        for number, opened, acked, resolved, credit in DISPUTES:
            await conn.execute(
                insert(Dispute.__table__).values(
                    invoice_id=invoices[number], customer_id=customer_of[number],
                    reason="price", opened_at=at(opened), acknowledged_at=at(acked),
                    status="resolved" if resolved else "acknowledged" if acked else "open",
                    resolved_at=at(resolved), credit_amount=Decimal(credit) if credit else None,
                )
            )  # fmt: skip
        sequence = await conn.scalar(
            insert(Sequence.__table__).returning(Sequence.id).values(
                name="past-due-standard", version=1, kind="past_due", trigger="invoice_overdue",
                definition={}, active=False, created_at=CREATED,  # an old version
            )
        )  # fmt: skip
        for n, (variant, number, sent) in enumerate(TOUCHES):
            when = at(sent)
            await conn.execute(
                insert(OutboxMessage.__table__).values(
                    idempotency_key=f"example:{n}", channel="email", kind="customer_message",
                    customer_id=customer_of[number], sequence_id=sequence, variant=variant,
                    invoice_ids=[invoices[number]], body="", payload={}, scheduled_for=when,
                    state="sent", attempts=1, next_attempt_at=when, sent_at=when,
                    created_at=when,
                )
            )  # fmt: skip
    return invoices
