"""Two customers, each with a linked chat and an open invoice (Telegram tests share it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Base
from tests.sequences.engine_helpers import add_contact, add_customer, add_invoice

CHAT_A, CHAT_B = 7001, 7002


@dataclass
class TwoCustomers:
    a: int
    b: int
    invoice_a: int
    invoice_b: int
    contact_a: int
    contact_b: int


async def two_customers(engine: AsyncEngine) -> TwoCustomers:
    """Customer A (chat 7001, INV-A1) and customer B (chat 7002, INV-B1)."""
    a, b = await add_customer(engine, "A"), await add_customer(engine, "B")
    issued, due = date(2026, 1, 1), date(2026, 1, 31)
    invoice_a = await add_invoice(engine, a, "INV-A1", issued=issued, due=due, amount="120.50")
    invoice_b = await add_invoice(engine, b, "INV-B1", issued=issued, due=due, amount="99.00")
    contact_a = await add_contact(engine, a, "telegram", str(CHAT_A))
    contact_b = await add_contact(engine, b, "telegram", str(CHAT_B))
    return TwoCustomers(a, b, invoice_a, invoice_b, contact_a, contact_b)


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows per table: what 'nothing written' is checked against."""
    async with engine.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }
