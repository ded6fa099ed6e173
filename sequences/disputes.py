"""Disputes: opening one, acknowledging it, resolving it (with a credit note or not).

An open dispute holds the invoice's other sequences until it is resolved; acknowledging
it stops its escalation chain (`sequences.escalation`). Each function writes its fact,
event and effect in the caller's transaction, like those of `sequences.ledger`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.escalation import ACKNOWLEDGED, RESOLVED, stop_chain
from sequences.ledger import (
    LedgerError,
    invoice_row,
    pause_invoice_enrollments,
    record_event,
    resume_invoice_enrollments,
)
from storage.models import (
    Dispute,
    DisputeStatus,
    Enrollment,
    EnrollmentState,
    Invoice,
    InvoiceStatus,
)

DISPUTED = "disputed"


async def open_dispute(
    conn: AsyncConnection, *, invoice_id: int, reason: str, actor: str | None, now: datetime
) -> int:
    """Open a dispute: the invoice's other sequences pause until it is resolved."""
    invoice = await invoice_row(conn, invoice_id)
    reason = reason.strip()
    if not reason:
        raise LedgerError("a dispute needs a reason")
    d = Dispute.__table__
    already = await conn.scalar(
        select(d.c.id).where(d.c.invoice_id == invoice_id, d.c.status != DisputeStatus.RESOLVED)
    )
    if already is not None:
        raise LedgerError(f"invoice {invoice.number} already has an open dispute")
    dispute_id = await conn.scalar(
        insert(d).returning(d.c.id).values(
            invoice_id=invoice_id, customer_id=invoice.customer_id, reason=reason,
            status=DisputeStatus.OPEN, opened_by=actor, opened_at=now,
        )
    )  # fmt: skip
    await pause_invoice_enrollments(conn, invoice_id, until=None, reason=DISPUTED)
    await record_event(
        conn, kind="dispute_opened", now=now, actor=actor, reason=reason,
        customer_id=invoice.customer_id, invoice_id=invoice_id, dispute_id=dispute_id,
    )  # fmt: skip
    return int(dispute_id)


async def acknowledge_dispute(
    conn: AsyncConnection, *, dispute_id: int, actor: str, now: datetime
) -> bool:
    """Acknowledge an open dispute (stops its escalation); False if it was not open."""
    d = Dispute.__table__
    done = await conn.execute(
        update(d)
        .where(d.c.id == dispute_id, d.c.status == DisputeStatus.OPEN)
        .values(status=DisputeStatus.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=now)
        .returning(d.c.customer_id, d.c.invoice_id)
    )
    row = done.first()
    if row is None:
        return False
    await stop_chain(conn, dispute_id=dispute_id, stop=ACKNOWLEDGED, actor=actor, now=now)
    await record_event(
        conn, kind="dispute_acknowledged", now=now, actor=actor, customer_id=row.customer_id,
        invoice_id=row.invoice_id, dispute_id=dispute_id,
    )  # fmt: skip
    return True


async def resolve_dispute(
    conn: AsyncConnection,
    *,
    dispute_id: int,
    resolution: str,
    credit_amount: Decimal | None,
    actor: str,
    now: datetime,
) -> None:
    """Resolve a dispute; a credit note lowers the open amount; the sequences resume."""
    d, i, e = Dispute.__table__, Invoice.__table__, Enrollment.__table__
    row = (await conn.execute(select(d).where(d.c.id == dispute_id))).first()
    if row is None:
        raise LedgerError(f"no dispute with id {dispute_id}")
    if row.status == DisputeStatus.RESOLVED:
        raise LedgerError("this dispute is already resolved")
    if not resolution.strip():
        raise LedgerError("a resolution needs a few words")
    invoice = await invoice_row(conn, row.invoice_id)
    if credit_amount is not None and (credit_amount <= 0 or credit_amount > invoice.open_amount):
        raise LedgerError(
            f"a credit must be more than 0 and at most the open amount {invoice.open_amount:f}"
        )
    await conn.execute(
        update(d).where(d.c.id == dispute_id).values(
            status=DisputeStatus.RESOLVED, resolved_by=actor, resolved_at=now,
            resolution=resolution.strip(), credit_amount=credit_amount,
        )
    )  # fmt: skip
    if credit_amount:
        left = invoice.open_amount - credit_amount
        await conn.execute(
            update(i).where(i.c.id == invoice.id).values(
                open_amount=left, updated_at=now,
                status=InvoiceStatus.PAID if left <= 0 else InvoiceStatus.OPEN,
                paid_at=now.date() if left <= 0 else None,
            )
        )  # fmt: skip
    # The dispute's own sequence ends; the invoice's others resume.
    await conn.execute(
        update(e)
        .where(e.c.dispute_id == dispute_id, e.c.state.in_([EnrollmentState.ACTIVE,
                                                           EnrollmentState.PAUSED]))
        .values(state=EnrollmentState.EXITED, ended_at=now, exit_reason="resolved")
    )  # fmt: skip
    await resume_invoice_enrollments(conn, invoice.id, reason=DISPUTED, now=now, notice=None)
    await stop_chain(conn, dispute_id=dispute_id, stop=RESOLVED, actor=actor, now=now)
    await record_event(
        conn, kind="dispute_resolved", now=now, actor=actor, reason=resolution.strip(),
        customer_id=invoice.customer_id, invoice_id=invoice.id, dispute_id=dispute_id,
        credit_amount=None if credit_amount is None else str(credit_amount),
    )  # fmt: skip
