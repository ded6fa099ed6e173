"""Set-based queries the engine, dispatch and KPIs need."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    OutboxMessage,
    OutboxState,
    Pause,
    PauseScope,
    Promise,
    PromiseStatus,
)


async def claim_outbox(
    conn: AsyncConnection, *, now: datetime, worker: str, limit: int, lease: timedelta
) -> Sequence[Row]:
    """Claim up to `limit` outbox rows that are due, or whose claimant's lease ran out.

    One statement: an UPDATE of the chosen ids, RETURNING them. On PostgreSQL the ids
    are chosen `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same row;
    SQLite has one writer at a time, so the statement alone is the claim there.
    """
    o = OutboxMessage.__table__
    ready = or_(
        and_(o.c.state == OutboxState.PENDING, o.c.next_attempt_at <= now),
        and_(o.c.state == OutboxState.SENDING, o.c.lease_until < now),
    )
    chosen = select(o.c.id).where(ready).order_by(o.c.next_attempt_at, o.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    stmt = (
        update(o)
        .where(o.c.id.in_(chosen.scalar_subquery()))
        .values(
            state=OutboxState.SENDING,
            claimed_by=worker,
            lease_until=now + lease,
            attempts=o.c.attempts + 1,
        )
        .returning(*o.c)
    )
    rows = (await conn.execute(stmt)).all()
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))


async def touch_block_reason(
    conn: AsyncConnection,
    *,
    customer_id: int,
    invoice_ids: list[int],
    sequence_name: str | None,
    now: datetime,
    promise_grace: timedelta,
) -> str | None:
    """Why a customer must not be touched about these invoices now, or None.

    Checked right before a message leaves: paid, disputed, paused (customer, invoice
    or whole sequence) and a pending promise (until its date plus the grace period).
    """
    i, d, p, pr = Invoice.__table__, Dispute.__table__, Pause.__table__, Promise.__table__
    if invoice_ids:
        # One settled invoice is enough: a message never chases a paid invoice, even
        # beside others that are still open (the engine plans those again).
        states = await conn.execute(
            select(i.c.status, i.c.open_amount).where(i.c.id.in_(invoice_ids))
        )
        for status, open_amount in states:
            if status == InvoiceStatus.PAID or open_amount <= 0:
                return "paid"
            if status != InvoiceStatus.OPEN:
                return "closed"
        disputed = exists().where(
            d.c.invoice_id.in_(invoice_ids), d.c.status != DisputeStatus.RESOLVED
        )
        if await conn.scalar(select(disputed)):
            return "disputed"
        promised_until: date = (now - promise_grace).date()
        promised = exists().where(
            pr.c.invoice_id.in_(invoice_ids),
            pr.c.status == PromiseStatus.PENDING,
            pr.c.promised_date >= promised_until,
        )
        if await conn.scalar(select(promised)):
            return "promised"
    scope = [and_(p.c.scope == PauseScope.CUSTOMER, p.c.customer_id == customer_id)]
    if invoice_ids:
        scope.append(and_(p.c.scope == PauseScope.INVOICE, p.c.invoice_id.in_(invoice_ids)))
    if sequence_name:
        scope.append(and_(p.c.scope == PauseScope.SEQUENCE, p.c.sequence_name == sequence_name))
    paused = exists().where(
        or_(*scope), p.c.lifted_at.is_(None), or_(p.c.until.is_(None), p.c.until > now)
    )
    if await conn.scalar(select(paused)):
        return "paused"
    return None
