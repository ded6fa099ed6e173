"""A message listing several invoices, skipped at dispatch for one of them: the others
keep their step and get it in a message of their own at the next pass."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from sequences.dispatch import dispatch_once
from sequences.disputes import open_dispute
from sequences.engine import tick
from storage.models import Event, Invoice
from tests.sequences.engine_helpers import Clock, add_customer, add_invoice, outbox, utc

PLANNED = utc(2026, 2, 5, 10)  # due+1d of both invoices: one gentle reminder for both


async def _paid(engine, invoice: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(Invoice.__table__).where(Invoice.id == invoice)
                           .values(open_amount=0, status="paid"))  # fmt: skip


async def _disputed(engine, invoice: int) -> None:
    async with engine.begin() as conn:
        await open_dispute(conn, invoice_id=invoice, reason="wrong price", actor="U1", now=PLANNED)


@pytest.mark.parametrize("block", [_paid, _disputed], ids=["paid", "disputed"])
async def test_the_other_invoice_keeps_its_step(engine, block):
    customer = await add_customer(engine, "C1")
    first, other = [
        await add_invoice(engine, customer, number, issued=date(2026, 1, 5), due=date(2026, 2, 4))
        for number in ("INV-A", "INV-B")
    ]
    clock = Clock(engine)
    await tick(engine, now=PLANNED)
    [planned] = await outbox(engine)
    assert sorted(planned.invoice_ids) == [first, other]
    await block(engine, first)
    while (await dispatch_once(engine, clock.channels, now=PLANNED, worker="w")).claimed:
        pass
    # The next passes; a dispute's own answer goes first and the cap holds the reminder
    # until Monday (the window is mon-fri).
    for instant in (utc(2026, 2, 5, 10, 5), utc(2026, 2, 9, 10), utc(2026, 2, 9, 10, 5)):
        await clock.at(instant)

    reminders = [m for m in await outbox(engine) if m.kind == "customer_message"
                 and m.sequence_id == planned.sequence_id]  # fmt: skip
    assert [m.state for m in reminders] == ["skipped", "sent"]
    assert reminders[1].invoice_ids == [other] and reminders[1].step_index == planned.step_index
    async with engine.connect() as conn:
        kinds = set(await conn.scalars(select(Event.kind).where(Event.invoice_id == other)))
    assert "step_rewound" in kinds
