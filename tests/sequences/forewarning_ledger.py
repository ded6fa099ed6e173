"""A ledger whose customer touches fall on Tuesday 3 March 2026, for the forewarning tests.

Monday 2 March 2026, 14:30 UTC, a tick enrolls three overdue invoices in a two-step
past-due sequence (due+8d, due+12d): A (New York, owned by the collector) and B (UTC,
owned by another collector) are due a message on Tuesday; C only on Thursday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.definition_loading import load_sequence_text
from sequences.engine import tick
from sequences.store import store_sequences
from sequences.templates import LIBRARY_TEMPLATES
from storage.models import Customer
from tests.sequences.engine_helpers import add_customer, add_invoice, enrollments, utc

SEQUENCE = """
name: past-due-short
kind: past_due
trigger: invoice_overdue
exit_on: [paid]
steps:
  - at: due+8d
    send: email
    template: past_due_gentle
  - at: due+12d
    send: email
    template: past_due_firm
"""
ENROLLED_AT = utc(2026, 3, 2, 14, 30)
COLLECTOR, OTHER = "U0COLLECT", "U0OTHER01"


@dataclass
class Ledger:
    customers: dict[str, int]
    enrollments: dict[str, int]  # by customer external id


async def build_ledger(engine: AsyncEngine) -> Ledger:
    async with engine.begin() as conn:
        await store_sequences(
            conn, [load_sequence_text(SEQUENCE)], template_dirs=(LIBRARY_TEMPLATES,),
            actor="test", now=utc(2026, 3, 1),
        )  # fmt: skip
    customers = {}
    for external_id, zone, owner, due in (
        ("A", "America/New_York", COLLECTOR, date(2026, 2, 23)),
        ("B", "UTC", OTHER, date(2026, 2, 23)),
        ("C", "UTC", COLLECTOR, date(2026, 2, 25)),
    ):
        customer = await add_customer(engine, external_id, timezone=zone)
        await add_invoice(engine, customer, f"INV-{external_id}", issued=date(2026, 2, 1), due=due)
        async with engine.begin() as conn:
            await conn.execute(
                update(Customer.__table__).where(Customer.id == customer)
                .values(owner_slack_id=owner)
            )  # fmt: skip
        customers[external_id] = customer
    await tick(engine, now=ENROLLED_AT)
    by_customer = {row.customer_id: row.id for row in await enrollments(engine)}
    return Ledger(customers, {x: by_customer[cid] for x, cid in customers.items()})
