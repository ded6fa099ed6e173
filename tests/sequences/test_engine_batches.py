"""A tick's batches claim whole customers: consolidation does not depend on batch size
or on how many workers tick at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select

from sequences.engine import EngineConfig, tick
from storage.models import Enrollment
from storage.queries import claim_due_enrollments
from tests.sequences.engine_helpers import Clock, add_customer, add_invoice, outbox, utc

DUE = date(2026, 2, 4)  # a Wednesday; due+1d (the gentle step) is Thursday Feb 5


async def _interleaved(engine, customers: int, each: int) -> dict[int, set[int]]:
    """`each` overdue invoices per customer, created round-robin (ids interleave)."""
    ids = [
        await add_customer(engine, f"C{n}", email=f"ap{n}@example.test") for n in range(customers)
    ]
    invoices: dict[int, set[int]] = {c: set() for c in ids}
    for round_ in range(each):
        for n, customer in enumerate(ids):
            invoice = await add_invoice(
                engine, customer, f"INV-{n}-{round_}", issued=date(2026, 1, 5), due=DUE
            )
            invoices[customer].add(invoice)
    return invoices


async def _messages(engine) -> list:
    return [m for m in await outbox(engine) if m.kind == "customer_message"]


async def test_a_tiny_batch_still_sends_one_message_per_customer(engine):
    """Regression: a customer split across two batches had its second half capped."""
    invoices = await _interleaved(engine, customers=3, each=3)
    report = await Clock(engine, EngineConfig(batch=2)).at(utc(2026, 2, 5, 10))
    assert report.capped == 0 and report.messages == 3
    messages = await _messages(engine)
    assert {m.customer_id: set(m.invoice_ids) for m in messages} == invoices
    assert len(messages) == 3


async def test_two_workers_ticking_at_once_never_split_a_customer(engine):
    invoices = await _interleaved(engine, customers=4, each=3)
    config = EngineConfig(batch=1)
    # Enroll first, before the window opens (07:00 UTC), so the two workers below
    # only plan: every enrollment then waits for 09:00 at the same instant.
    early = await tick(engine, now=utc(2026, 2, 5, 7), config=config)
    assert early.enrolled == 12 and early.messages == 0
    reports = await asyncio.gather(
        *(tick(engine, now=utc(2026, 2, 5, 10), config=config) for _ in range(2))
    )
    assert sum(r.capped for r in reports) == 0
    assert sum(r.messages for r in reports) == 4
    messages = await _messages(engine)
    assert Counter(m.customer_id for m in messages) == Counter(invoices.keys())
    assert {m.customer_id: set(m.invoice_ids) for m in messages} == invoices


async def test_a_customer_claimed_by_one_worker_is_not_taken_by_another(engine):
    """PostgreSQL: a row of the customer that the first worker had to skip (another
    transaction held it) is not claimed by a second worker while the first one runs."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a tick's batches never run side by side")
    invoices = await _interleaved(engine, customers=2, each=2)
    await tick(engine, now=utc(2026, 2, 5, 7))  # enroll; all wait for 09:00
    first_customer = min(invoices)
    now = utc(2026, 2, 5, 10)
    e = Enrollment.__table__
    async with engine.connect() as other, engine.connect() as worker1, engine.connect() as worker2:
        await other.begin()
        held = await other.scalar(select(func.max(e.c.id)).where(e.c.customer_id == first_customer))
        await other.execute(select(e.c.id).where(e.c.id == held).with_for_update())
        await worker1.begin()
        claimed1 = await claim_due_enrollments(worker1, now=now, limit=1)
        assert {r.customer_id for r in claimed1} == {first_customer}
        assert held not in {r.id for r in claimed1}
        await other.commit()  # the held row is free now, but its customer is worker 1's
        await worker2.begin()
        # Its first due row is the first customer's: it looks further for another one.
        claimed2 = await claim_due_enrollments(worker2, now=now, limit=1)
        assert {r.customer_id for r in claimed2} == {sorted(invoices)[1]}
        await worker1.rollback()
        await worker2.rollback()
