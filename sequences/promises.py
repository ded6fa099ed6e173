"""Promises to pay: recording one, and settling them as kept or broken.

A promise holds the touches about its invoice until the promised date plus a grace
period; a broken one resumes them with a broken-promise notice and a task for the
customer's owner. Each function writes its fact, event and effect in the caller's
transaction, like those of `sequences.ledger`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.ledger import (
    LedgerError,
    add_task,
    invoice_row,
    pause_invoice_enrollments,
    record_event,
    resume_invoice_enrollments,
)
from storage.models import Enrollment, Invoice, InvoiceStatus, Promise, PromiseStatus

PROMISE_GRACE = timedelta(days=3)
PROMISED = "promised"


@dataclass(frozen=True)
class PromiseOutcome:
    """What settling promises did: ids of promises kept and broken."""

    kept: list[int]
    broken: list[int]


def end_of_day(day: date) -> datetime:
    """The last instant of a calendar day, UTC (a promise holds through its whole day)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


async def record_promise(
    conn: AsyncConnection,
    *,
    invoice_id: int,
    promised_date: date,
    amount: Decimal | None,
    source: str,
    actor: str | None,
    now: datetime,
    grace: timedelta = PROMISE_GRACE,
) -> int:
    """Record a promise to pay; touches about the invoice wait until its date plus grace."""
    invoice = await invoice_row(conn, invoice_id)
    if invoice.status != InvoiceStatus.OPEN or invoice.open_amount <= 0:
        raise LedgerError(f"invoice {invoice.number} is not open")
    if promised_date < now.date():
        raise LedgerError(f"the promised date {promised_date} is in the past")
    if amount is not None and amount <= 0:
        raise LedgerError("a promised amount must be greater than 0")
    p = Promise.__table__
    # A new promise replaces the one before it.
    await conn.execute(
        update(p)
        .where(p.c.invoice_id == invoice_id, p.c.status == PromiseStatus.PENDING)
        .values(status=PromiseStatus.CANCELLED, resolved_at=now)
    )
    promise_id = await conn.scalar(
        insert(p).returning(p.c.id).values(
            invoice_id=invoice_id, customer_id=invoice.customer_id, promised_date=promised_date,
            amount=amount, status=PromiseStatus.PENDING, source=source, created_by=actor,
            created_at=now,
        )
    )  # fmt: skip
    e = Enrollment.__table__
    until = end_of_day(promised_date) + grace
    await pause_invoice_enrollments(conn, invoice_id, until=until, reason=PROMISED)
    # A second promise moves the wait of enrollments the first one paused.
    await conn.execute(
        update(e)
        .where(e.c.invoice_id == invoice_id, e.c.pause_reason == PROMISED)
        .values(paused_until=until)
    )
    await record_event(
        conn, kind="promise_recorded", now=now, actor=actor, customer_id=invoice.customer_id,
        invoice_id=invoice_id, promised_date=promised_date.isoformat(),
        amount=None if amount is None else str(amount), source=source,
    )  # fmt: skip
    return int(promise_id)


async def settle_promises(
    conn: AsyncConnection, *, now: datetime, grace: timedelta = PROMISE_GRACE
) -> PromiseOutcome:
    """Mark pending promises kept (invoice paid) or broken (date plus grace passed).

    A broken promise resumes the invoice's sequences with a broken-promise notice and
    gives the customer's owner a task.
    """
    p, i = Promise.__table__, Invoice.__table__
    rows = (
        await conn.execute(
            select(
                p.c.id,
                p.c.invoice_id,
                p.c.customer_id,
                p.c.promised_date,
                i.c.number,
                i.c.status,
                i.c.open_amount,
            )
            .join(i, i.c.id == p.c.invoice_id)
            .where(p.c.status == PromiseStatus.PENDING)
        )
    ).all()
    kept, broken = [], []
    for row in rows:
        if row.status != InvoiceStatus.OPEN or row.open_amount <= 0:
            kept.append(row.id)
            await conn.execute(
                update(p).where(p.c.id == row.id).values(status=PromiseStatus.KEPT, resolved_at=now)
            )
            await record_event(
                conn, kind="promise_kept", now=now, actor=None, customer_id=row.customer_id,
                invoice_id=row.invoice_id,
            )  # fmt: skip
        elif end_of_day(row.promised_date) + grace <= now:
            broken.append(row.id)
            await conn.execute(
                update(p)
                .where(p.c.id == row.id)
                .values(status=PromiseStatus.BROKEN, resolved_at=now)
            )
            await resume_invoice_enrollments(
                conn, row.invoice_id, reason=PROMISED, now=now, notice="promise_broken",
                notice_key=f"promise:{row.id}",
            )  # fmt: skip
            await add_task(
                conn, kind="broken_promise", customer_id=row.customer_id,
                invoice_id=row.invoice_id, now=now, key=f"promise:{row.id}:broken",
                title=f"Promise broken: invoice {row.number} was promised for "
                f"{row.promised_date} and is still open",
            )  # fmt: skip
            await record_event(
                conn, kind="promise_broken", now=now, actor=None, customer_id=row.customer_id,
                invoice_id=row.invoice_id, promised_date=row.promised_date.isoformat(),
            )  # fmt: skip
    return PromiseOutcome(kept=kept, broken=broken)
