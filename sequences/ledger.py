"""The state changes of accounts receivable and their rules (SPEC section 5, "Exits").

Each function is one fact: it writes the fact, its audit event (who and why) and its
effect on running enrollments through the connection it is given, so the caller's
transaction covers all three. `now` is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    Contact,
    Customer,
    Dispute,
    DisputeStatus,
    Enrollment,
    EnrollmentState,
    Event,
    Invoice,
    InvoiceStatus,
    Pause,
    PauseScope,
    Promise,
    PromiseStatus,
    Sequence,
    SequenceKind,
    Task,
)

PROMISE_GRACE = timedelta(days=3)
DISPUTED = "disputed"
PROMISED = "promised"


class LedgerError(ValueError):
    """A state change that the ledger refuses, with the reason for the user."""


@dataclass(frozen=True)
class PromiseOutcome:
    """What settling promises did: ids of promises kept and broken."""

    kept: list[int]
    broken: list[int]


async def record_event(
    conn: AsyncConnection,
    *,
    kind: str,
    now: datetime,
    actor: str | None,
    reason: str | None = None,
    customer_id: int | None = None,
    invoice_id: int | None = None,
    enrollment_id: int | None = None,
    **data: Any,
) -> None:
    """Append one event to the audit trail."""
    await conn.execute(
        insert(Event.__table__).values(
            at=now, kind=kind, actor=actor, reason=reason, customer_id=customer_id,
            invoice_id=invoice_id, enrollment_id=enrollment_id, data=data,
        )
    )  # fmt: skip


async def _invoice(conn: AsyncConnection, invoice_id: int) -> Any:
    row = (await conn.execute(select(Invoice.__table__).where(Invoice.id == invoice_id))).first()
    if row is None:
        raise LedgerError(f"no invoice with id {invoice_id}")
    return row


def _not_disputes_sequence() -> Any:
    kinds = select(Sequence.id).where(Sequence.kind == SequenceKind.DISPUTES)
    return Enrollment.sequence_id.not_in(kinds)


async def _pause_invoice_enrollments(
    conn: AsyncConnection, invoice_id: int, *, until: datetime | None, reason: str
) -> None:
    e = Enrollment.__table__
    await conn.execute(
        update(e)
        .where(e.c.invoice_id == invoice_id, e.c.state == EnrollmentState.ACTIVE)
        .where(_not_disputes_sequence())
        .values(state=EnrollmentState.PAUSED, paused_until=until, pause_reason=reason)
    )


async def _resume_invoice_enrollments(
    conn: AsyncConnection, invoice_id: int, *, reason: str, now: datetime, notice: str | None
) -> None:
    e = Enrollment.__table__
    await conn.execute(
        update(e)
        .where(
            e.c.invoice_id == invoice_id,
            e.c.state == EnrollmentState.PAUSED,
            e.c.pause_reason == reason,
        )
        .values(
            state=EnrollmentState.ACTIVE, paused_until=None, pause_reason=None,
            next_action_at=now, notice=notice,
        )
    )  # fmt: skip


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
    invoice = await _invoice(conn, invoice_id)
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
    await _pause_invoice_enrollments(conn, invoice_id, until=until, reason=PROMISED)
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
            await _resume_invoice_enrollments(
                conn, row.invoice_id, reason=PROMISED, now=now, notice="promise_broken"
            )
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


async def open_dispute(
    conn: AsyncConnection, *, invoice_id: int, reason: str, actor: str | None, now: datetime
) -> int:
    """Open a dispute: the invoice's other sequences pause until it is resolved."""
    invoice = await _invoice(conn, invoice_id)
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
    await _pause_invoice_enrollments(conn, invoice_id, until=None, reason=DISPUTED)
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
    invoice = await _invoice(conn, row.invoice_id)
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
    await _resume_invoice_enrollments(conn, invoice.id, reason=DISPUTED, now=now, notice=None)
    await record_event(
        conn, kind="dispute_resolved", now=now, actor=actor, reason=resolution.strip(),
        customer_id=invoice.customer_id, invoice_id=invoice.id, dispute_id=dispute_id,
        credit_amount=None if credit_amount is None else str(credit_amount),
    )  # fmt: skip


async def pause(
    conn: AsyncConnection,
    *,
    scope: PauseScope,
    customer_id: int | None = None,
    invoice_id: int | None = None,
    sequence_name: str | None = None,
    until: datetime | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> int:
    """Hold touches for a customer, an invoice or a whole sequence (until None: indefinitely)."""
    target = {PauseScope.CUSTOMER: customer_id, PauseScope.INVOICE: invoice_id,
              PauseScope.SEQUENCE: sequence_name}[scope]  # fmt: skip
    if target is None:
        raise LedgerError(f"a {scope} pause needs its {scope}")
    if until is not None and until <= now:
        raise LedgerError("a pause must end in the future")
    p = Pause.__table__
    pause_id = await conn.scalar(
        insert(p).returning(p.c.id).values(
            scope=scope, customer_id=customer_id if scope == PauseScope.CUSTOMER else None,
            invoice_id=invoice_id if scope == PauseScope.INVOICE else None,
            sequence_name=sequence_name if scope == PauseScope.SEQUENCE else None,
            until=until, reason=reason, created_by=actor, created_at=now,
        )
    )  # fmt: skip
    await record_event(
        conn, kind="paused", now=now, actor=actor, reason=reason, customer_id=customer_id,
        invoice_id=invoice_id, scope=str(scope), sequence=sequence_name,
        until=None if until is None else until.isoformat(),
    )  # fmt: skip
    return int(pause_id)


async def resume(
    conn: AsyncConnection,
    *,
    scope: PauseScope,
    customer_id: int | None = None,
    invoice_id: int | None = None,
    sequence_name: str | None = None,
    actor: str,
    now: datetime,
) -> int:
    """Lift the active pauses on a target; returns how many were lifted."""
    p = Pause.__table__
    match = {
        PauseScope.CUSTOMER: p.c.customer_id == customer_id,
        PauseScope.INVOICE: p.c.invoice_id == invoice_id,
        PauseScope.SEQUENCE: p.c.sequence_name == sequence_name,
    }[scope]
    lifted = await conn.execute(
        update(p)
        .where(p.c.scope == scope, match, p.c.lifted_at.is_(None))
        .where(or_(p.c.until.is_(None), p.c.until > now))
        .values(lifted_at=now, lifted_by=actor)
    )
    count = lifted.rowcount or 0
    if count:
        # Steps held by the pause are due again at once.
        e = Enrollment.__table__
        target = {
            PauseScope.CUSTOMER: e.c.customer_id == customer_id,
            PauseScope.INVOICE: e.c.invoice_id == invoice_id,
            PauseScope.SEQUENCE: e.c.sequence_id.in_(
                select(Sequence.id).where(Sequence.name == sequence_name)
            ),
        }[scope]
        await conn.execute(
            update(e)
            .where(target, e.c.state == EnrollmentState.ACTIVE, e.c.next_action_at > now)
            .values(next_action_at=now)
        )
        await record_event(
            conn, kind="resumed", now=now, actor=actor, customer_id=customer_id,
            invoice_id=invoice_id, scope=str(scope), sequence=sequence_name,
        )  # fmt: skip
    return count


async def opt_out(
    conn: AsyncConnection, *, contact_id: int, actor: str | None, now: datetime
) -> bool:
    """A contact asked for no more messages on its channel; False if it already had."""
    c = Contact.__table__
    row = (
        await conn.execute(
            update(c)
            .where(c.c.id == contact_id, c.c.opted_out_at.is_(None))
            .values(opted_out_at=now, updated_at=now)
            .returning(c.c.customer_id, c.c.channel)
        )
    ).first()
    if row is None:
        return False
    await record_event(
        conn, kind="opted_out", now=now, actor=actor, customer_id=row.customer_id,
        channel=str(row.channel), contact_id=contact_id,
    )  # fmt: skip
    return True


async def add_task(
    conn: AsyncConnection,
    *,
    kind: str,
    customer_id: int | None,
    title: str,
    now: datetime,
    key: str,
    invoice_id: int | None = None,
    body: str | None = None,
    enrollment_id: int | None = None,
) -> bool:
    """A collector task for the customer's owner, once per key; False if it exists."""
    t = Task.__table__
    if await conn.scalar(select(t.c.id).where(t.c.idempotency_key == key)):
        return False
    owner = None
    if customer_id is not None:
        owner = await conn.scalar(select(Customer.owner_slack_id).where(Customer.id == customer_id))
    await conn.execute(
        insert(t).values(
            idempotency_key=key, kind=kind, customer_id=customer_id, invoice_id=invoice_id,
            enrollment_id=enrollment_id, title=title, body=body, assignee_slack_id=owner,
            due_at=now, created_at=now,
        )
    )  # fmt: skip
    return True


CHECKLIST_ITEM_DONE = "checklist_item_done"


async def mark_checklist_item(
    conn: AsyncConnection, *, customer_id: int, item: str, actor: str, now: datetime
) -> None:
    """Tick an onboarding checklist item for a customer (the audit trail keeps it)."""
    if not item.strip():
        raise LedgerError("a checklist item needs its name")
    await record_event(
        conn, kind=CHECKLIST_ITEM_DONE, now=now, actor=actor, customer_id=customer_id,
        item=item.strip(),
    )  # fmt: skip
