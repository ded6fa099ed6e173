"""State changes of accounts receivable: audit trail, pauses, opt-outs, tasks, checklists.

The facts of the ledger and their rules (SPEC section 5, "Exits"). Each function is one
fact: it writes the fact, its audit event (who and why) and its effect on running
enrollments through the connection it is given, so the caller's transaction covers all
three. `now` is always passed in. Promises (`sequences.promises`) and disputes
(`sequences.disputes`) are facts of the same kind; they hold and release an invoice's
enrollments with the helpers here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    Contact,
    Customer,
    Enrollment,
    EnrollmentState,
    Event,
    Invoice,
    Pause,
    PauseScope,
    Sequence,
    SequenceKind,
    Task,
)


class LedgerError(ValueError):
    """A state change that the ledger refuses, with the reason for the user."""


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
    outbox_id: int | None = None,
    **data: Any,
) -> None:
    """Append one event to the audit trail (`outbox_id`: the message it is about)."""
    await record_events(conn, [event_values(
        kind=kind, now=now, actor=actor, reason=reason, customer_id=customer_id,
        invoice_id=invoice_id, enrollment_id=enrollment_id, outbox_id=outbox_id, **data,
    )])  # fmt: skip


def event_values(
    *,
    kind: str,
    now: datetime,
    actor: str | None,
    reason: str | None = None,
    customer_id: int | None = None,
    invoice_id: int | None = None,
    enrollment_id: int | None = None,
    outbox_id: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """An audit-trail event as a row, for `record_events`."""
    return {
        "at": now, "kind": kind, "actor": actor, "reason": reason, "customer_id": customer_id,
        "invoice_id": invoice_id, "enrollment_id": enrollment_id, "outbox_id": outbox_id,
        "data": data,
    }  # fmt: skip


async def record_events(conn: AsyncConnection, events: list[dict[str, Any]]) -> None:
    """Append events (rows made by `event_values`) in one statement."""
    if events:
        await conn.execute(insert(Event.__table__), events)


async def invoice_row(conn: AsyncConnection, invoice_id: int) -> Any:
    """The invoice's row; LedgerError when there is none."""
    row = (await conn.execute(select(Invoice.__table__).where(Invoice.id == invoice_id))).first()
    if row is None:
        raise LedgerError(f"no invoice with id {invoice_id}")
    return row


def _not_disputes_sequence() -> Any:
    kinds = select(Sequence.id).where(Sequence.kind == SequenceKind.DISPUTES)
    return Enrollment.sequence_id.not_in(kinds)


async def pause_invoice_enrollments(
    conn: AsyncConnection, invoice_id: int, *, until: datetime | None, reason: str
) -> None:
    """Hold the invoice's active enrollments (not its disputes sequences) for `reason`."""
    e = Enrollment.__table__
    await conn.execute(
        update(e)
        .where(e.c.invoice_id == invoice_id, e.c.state == EnrollmentState.ACTIVE)
        .where(_not_disputes_sequence())
        .values(state=EnrollmentState.PAUSED, paused_until=until, pause_reason=reason)
    )


async def resume_invoice_enrollments(
    conn: AsyncConnection, invoice_id: int, *, reason: str, now: datetime, notice: str | None,
    notice_key: str | None = None,
) -> None:  # fmt: skip
    """Release the invoice's enrollments held for `reason`: due at once, with `notice`.

    `notice_key` names this occurrence of the notice (e.g. the broken promise), so it
    is a message of its own even when the enrollment had the same notice before.
    """
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
            next_action_at=now, notice=notice, notice_key=notice_key if notice else None,
        )
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


async def wake_customer_enrollments(
    conn: AsyncConnection, customer_id: int, *, now: datetime
) -> None:
    """Make the customer's running enrollments due now, so the next tick looks at them
    again (ending those a reply or a finished checklist ends; the others wait again)."""
    e = Enrollment.__table__
    await conn.execute(
        update(e)
        .where(e.c.customer_id == customer_id, e.c.state == EnrollmentState.ACTIVE)
        .where(e.c.next_action_at > now)
        .values(next_action_at=now)
    )
