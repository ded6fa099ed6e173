"""Starting and stopping a sequence for a customer or an invoice by hand (`/ar enroll`).

Any sequence may be started by hand, `manual` trigger or not; the tick then plans it like
any other enrollment (it is due at once). A sequence for invoices named with a customer
starts for each of the customer's open invoices that does not run it yet. Disputes
sequences start only with a dispute (`/ar dispute`). Each start and stop is in the
audit trail with who did it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.catalog import find_sequence
from sequences.ledger import LedgerError, invoice_row, record_event
from storage.models import Enrollment, EnrollmentState, Invoice, InvoiceStatus, TargetType
from storage.models import Sequence as SequenceRow

RUNNING = (EnrollmentState.ACTIVE, EnrollmentState.PAUSED)
ENROLLED = "enrolled"
UNENROLLED = "unenrolled"


class EnrollmentError(LedgerError):
    """An enrollment change that cannot be made, with the reason for the user."""


@dataclass(frozen=True)
class Changed:
    """What enroll or unenroll did: the sequence and the invoice numbers (None: customer)."""

    sequence: str
    targets: list[str | None]


async def enroll(
    conn: AsyncConnection, *, sequence_name: str, customer_id: int, invoice_id: int | None,
    actor: str, now: datetime,
) -> Changed:  # fmt: skip
    """Start `sequence_name` for the customer (or its open invoices), or for one invoice."""
    stored = await find_sequence(conn, sequence_name)
    sequence = stored.sequence
    if not sequence.active:
        raise EnrollmentError(f"sequence '{sequence.name}' is not active")
    target = sequence.target
    if target == "dispute":
        raise EnrollmentError(
            f"'{sequence.name}' runs for disputes: it starts when one is opened (/ar dispute)"
        )
    if target == "customer" and invoice_id is not None:
        raise EnrollmentError(f"'{sequence.name}' runs for a customer: name the customer")
    if target == "customer":
        if await _running(conn, sequence.name, customer_id=customer_id):
            raise EnrollmentError(f"this customer already runs '{sequence.name}'")
        await _start(conn, stored.id, customer_id, None, sequence.name, actor, now)
        return Changed(sequence.name, [None])
    invoices = await _open_invoices(conn, customer_id, invoice_id)
    started = []
    for inv_id, number in invoices:
        if not await _running(conn, sequence.name, customer_id=customer_id, invoice_id=inv_id):
            await _start(conn, stored.id, customer_id, inv_id, sequence.name, actor, now)
            started.append(number)
    if not started:
        what = f"invoice {invoices[0][1]}" if invoice_id is not None else "every open invoice"
        raise EnrollmentError(f"{what} already runs '{sequence.name}'")
    return Changed(sequence.name, started)


async def unenroll(
    conn: AsyncConnection, *, sequence_name: str, customer_id: int, invoice_id: int | None,
    actor: str, now: datetime,
) -> Changed:  # fmt: skip
    """Stop `sequence_name` for one invoice, or everywhere it runs for the customer."""
    sequence = (await find_sequence(conn, sequence_name)).sequence
    e, s, i = Enrollment.__table__, SequenceRow.__table__, Invoice.__table__
    query = (
        select(e.c.id, e.c.invoice_id, i.c.number)
        .join(s, s.c.id == e.c.sequence_id)
        .outerjoin(i, i.c.id == e.c.invoice_id)
        .where(s.c.name == sequence.name, e.c.customer_id == customer_id, e.c.state.in_(RUNNING))
    )
    if invoice_id is not None:
        query = query.where(e.c.invoice_id == invoice_id)
    rows = (await conn.execute(query.order_by(i.c.number))).all()
    if not rows:
        what = "this invoice" if invoice_id is not None else "this customer"
        raise EnrollmentError(f"'{sequence.name}' is not running for {what}")
    await conn.execute(
        update(e)
        .where(e.c.id.in_([r.id for r in rows]))
        .values(
            state=EnrollmentState.CANCELLED,
            ended_at=now,
            exit_reason=UNENROLLED,
            next_action_at=None,
        )
    )
    for r in rows:
        await record_event(
            conn, kind=UNENROLLED, now=now, actor=actor, customer_id=customer_id,
            invoice_id=r.invoice_id, enrollment_id=r.id, sequence=sequence.name,
        )  # fmt: skip
    return Changed(sequence.name, [r.number for r in rows])


async def _open_invoices(
    conn: AsyncConnection, customer_id: int, invoice_id: int | None
) -> list[tuple[int, str]]:
    if invoice_id is not None:
        row = await invoice_row(conn, invoice_id)
        if row.status != InvoiceStatus.OPEN or row.open_amount <= 0:
            raise EnrollmentError(f"invoice {row.number} is not open")
        return [(row.id, row.number)]
    i = Invoice.__table__
    rows = (
        await conn.execute(
            select(i.c.id, i.c.number)
            .where(i.c.customer_id == customer_id, i.c.status == InvoiceStatus.OPEN)
            .where(i.c.open_amount > 0)
            .order_by(i.c.due_date, i.c.number)
        )
    ).all()
    if not rows:
        raise EnrollmentError("this customer has no open invoice")
    return [(r.id, r.number) for r in rows]


async def _running(
    conn: AsyncConnection, name: str, *, customer_id: int, invoice_id: int | None = None
) -> bool:
    e, s = Enrollment.__table__, SequenceRow.__table__
    query = (
        select(e.c.id)
        .join(s, s.c.id == e.c.sequence_id)
        .where(s.c.name == name, e.c.customer_id == customer_id, e.c.state.in_(RUNNING))
    )
    if invoice_id is not None:
        query = query.where(e.c.invoice_id == invoice_id)
    return (await conn.scalar(query.limit(1))) is not None


async def _start(
    conn: AsyncConnection, sequence_id: int, customer_id: int, invoice_id: int | None,
    name: str, actor: str, now: datetime,
) -> None:  # fmt: skip
    e = Enrollment.__table__
    target = TargetType.INVOICE if invoice_id is not None else TargetType.CUSTOMER
    enrollment_id = await conn.scalar(
        insert(e).returning(e.c.id).values(
            sequence_id=sequence_id, target_type=target, customer_id=customer_id,
            invoice_id=invoice_id, state=EnrollmentState.ACTIVE, current_step=0,
            repeat_count=0, next_action_at=now, started_at=now,
        )
    )  # fmt: skip
    await record_event(
        conn, kind=ENROLLED, now=now, actor=actor, customer_id=customer_id,
        invoice_id=invoice_id, enrollment_id=enrollment_id, sequence=name, manual=True,
    )  # fmt: skip
