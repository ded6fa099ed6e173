"""Read-only lookups for people-facing commands: a customer by id or name, its open items.

`arseq preview` uses them today; `/ar status CUSTOMER` and friends (SPEC section 4) name
customers the same way: by external id, or by a name prefix that matches only one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.planner import DisputeFacts, InvoiceFacts
from storage.models import (
    Contact,
    Customer,
    Dispute,
    DisputeStatus,
    Enrollment,
    Invoice,
    InvoiceStatus,
)
from storage.models import Sequence as SequenceRow

SHOWN_MATCHES = 10


class CustomerLookupError(Exception):
    """A customer could not be named: unknown, or ambiguous (`matches` lists them)."""

    def __init__(self, message: str, matches: list[Row] | None = None) -> None:
        super().__init__(message)
        self.matches = matches or []


def describe(customer: Row) -> str:
    """`Name (EXTERNAL-ID)`, as people see a customer."""
    return f"{customer.name} ({customer.external_id})"


async def find_customer(conn: AsyncConnection, query: str) -> Row:
    """The customer whose external id is `query`, else the only one whose name starts
    with it (case-insensitive; an exact name wins over longer ones)."""
    c = Customer.__table__
    text = query.strip()
    if not text:
        raise CustomerLookupError("name a customer by external id or name")
    row = (await conn.execute(select(c).where(c.c.external_id == text))).first()
    if row is not None:
        return row
    limit = SHOWN_MATCHES + 1
    rows = (
        await conn.execute(
            select(c)
            .where(c.c.name.istartswith(text, autoescape=True))
            .order_by(c.c.name, c.c.external_id)
            .limit(limit)
        )
    ).all()
    if len(rows) == 1:
        return rows[0]
    exact = [r for r in rows if r.name.casefold() == text.casefold()]
    if len(exact) == 1:
        return exact[0]
    if not rows:
        raise CustomerLookupError(
            f"no customer has the external id or a name starting with {text!r}"
        )
    count = await conn.scalar(
        select(func.count()).select_from(c).where(c.c.name.istartswith(text, autoescape=True))
    )
    shown = ", ".join(describe(r) for r in rows[:SHOWN_MATCHES])
    more = f" and {count - SHOWN_MATCHES} more" if count and count > SHOWN_MATCHES else ""
    raise CustomerLookupError(
        f"{text!r} matches {count} customers: {shown}{more}; use the external id", rows
    )


async def open_invoices(conn: AsyncConnection, customer_id: int) -> list[InvoiceFacts]:
    """The customer's open invoices, oldest due date first, with their dispute flag."""
    i, d = Invoice.__table__, Dispute.__table__
    disputed = set(
        (
            await conn.execute(
                select(d.c.invoice_id).where(
                    d.c.customer_id == customer_id, d.c.status != DisputeStatus.RESOLVED
                )
            )
        ).scalars()
    )
    rows = await conn.execute(
        select(i)
        .where(i.c.customer_id == customer_id, i.c.status == InvoiceStatus.OPEN)
        .where(i.c.open_amount > 0)
        .order_by(i.c.due_date, i.c.number)
    )
    return [_invoice(r, r.id in disputed) for r in rows]


async def open_disputes(conn: AsyncConnection, customer_id: int) -> list[tuple[DisputeFacts, int]]:
    """The customer's disputes that are not resolved, with the invoice each is about."""
    d = Dispute.__table__
    rows = await conn.execute(
        select(d)
        .where(d.c.customer_id == customer_id, d.c.status != DisputeStatus.RESOLVED)
        .order_by(d.c.opened_at, d.c.id)
    )
    return [(DisputeFacts(r.id, str(r.status), r.opened_at), r.invoice_id) for r in rows]


async def invoice_by_id(conn: AsyncConnection, invoice_id: int) -> InvoiceFacts | None:
    """One invoice as the templates see it, whatever its status."""
    i = Invoice.__table__
    r = (await conn.execute(select(i).where(i.c.id == invoice_id))).first()
    return _invoice(r, True) if r is not None else None


def _invoice(r: Row, disputed: bool) -> InvoiceFacts:
    return InvoiceFacts(
        r.id, r.number, r.issue_date, r.due_date, r.amount, r.open_amount, r.currency,
        str(r.status), disputed,
    )  # fmt: skip


async def usable_contacts(conn: AsyncConnection, customer_id: int) -> list[Row]:
    """Contacts the engine may write to: not opted out, not unreachable, primary first."""
    ct = Contact.__table__
    rows = await conn.execute(
        select(ct)
        .where(ct.c.customer_id == customer_id, ct.c.opted_out_at.is_(None))
        .where(ct.c.unreachable_at.is_(None))
        .order_by(ct.c.is_primary.desc(), ct.c.id)
    )
    return list(rows)


async def enrollment_starts(
    conn: AsyncConnection, sequence_name: str, customer_id: int
) -> dict[tuple[int | None, int | None], datetime]:
    """When this customer's enrollments in a sequence started, by (invoice id, dispute id)."""
    e, s = Enrollment.__table__, SequenceRow.__table__
    rows = await conn.execute(
        select(e.c.invoice_id, e.c.dispute_id, e.c.target_type, e.c.started_at)
        .join(s, s.c.id == e.c.sequence_id)
        .where(s.c.name == sequence_name, e.c.customer_id == customer_id)
        .order_by(e.c.started_at)
    )
    starts: dict[tuple[int | None, int | None], datetime] = {}
    for r in rows:
        key = (None, None) if str(r.target_type) == "customer" else (r.invoice_id, r.dispute_id)
        starts.setdefault(key, r.started_at)
    return starts
