"""One customer's accounts-receivable status, for `/ar status` (SPEC section 4).

Balance and aging per currency, open invoices, running sequences, last touches, open
disputes and pending promises. One query per part, each on an index keyed by the
customer (or on the small set of open disputes and pending promises), so the cost
follows the customer's size, never the ledger's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.kpi_queries import BUCKETS
from storage.models import (
    Dispute,
    DisputeStatus,
    Enrollment,
    EnrollmentState,
    Invoice,
    InvoiceStatus,
    OutboxChannel,
    OutboxMessage,
    OutboxState,
    Promise,
    PromiseStatus,
)
from storage.models import Sequence as SequenceRow

LAST_TOUCHES = 5
SHOWN_INVOICES = 15


@dataclass(frozen=True)
class OpenInvoice:
    number: str
    due_date: date
    open_amount: Decimal
    currency: str
    days_overdue: int  # 0 when not yet due
    disputed: bool
    promised_for: date | None


@dataclass(frozen=True)
class RunningSequence:
    sequence: str
    state: str  # active | paused
    invoice: str | None  # the invoice number, None for a customer-wide enrollment
    step: int  # 1-based
    next_action_at: datetime | None
    paused_until: datetime | None


@dataclass(frozen=True)
class Touch:
    at: datetime
    channel: str
    subject: str | None


@dataclass(frozen=True)
class OpenDispute:
    invoice: str
    reason: str
    status: str
    opened_at: datetime
    opened_by: str | None


@dataclass(frozen=True)
class PendingPromise:
    invoice: str
    promised_date: date
    amount: Decimal | None
    currency: str


@dataclass
class CustomerStatus:
    """What `/ar status` shows; money per currency, never summed across currencies."""

    customer: Row
    balance: dict[str, Decimal] = field(default_factory=dict)
    aging: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    invoices: list[OpenInvoice] = field(default_factory=list)
    invoice_count: int = 0
    sequences: list[RunningSequence] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    disputes: list[OpenDispute] = field(default_factory=list)
    promises: list[PendingPromise] = field(default_factory=list)


def aging_bucket(days_overdue: int) -> str:
    """The KPI aging bucket (`storage.kpi_queries.BUCKETS`) of an invoice so many days late."""
    if days_overdue <= 0:
        return BUCKETS[0]
    for limit, bucket in zip((30, 60, 90), BUCKETS[1:4], strict=True):
        if days_overdue <= limit:
            return bucket
    return BUCKETS[4]


async def customer_status(conn: AsyncConnection, customer: Row, *, today: date) -> CustomerStatus:
    """The status of `customer` (a customers row) as of `today` (the team's date)."""
    i, d, p = Invoice.__table__, Dispute.__table__, Promise.__table__
    status = CustomerStatus(customer)
    disputes = (
        await conn.execute(
            select(d, i.c.number)
            .join(i, i.c.id == d.c.invoice_id)
            .where(d.c.status.in_([DisputeStatus.OPEN, DisputeStatus.ACKNOWLEDGED]))
            .where(d.c.customer_id == customer.id)
            .order_by(d.c.opened_at)
        )
    ).all()
    status.disputes = [
        OpenDispute(r.number, r.reason, str(r.status), r.opened_at, r.opened_by) for r in disputes
    ]
    promises = (
        await conn.execute(
            select(p.c.invoice_id, p.c.promised_date, p.c.amount, i.c.number, i.c.currency)
            .join(i, i.c.id == p.c.invoice_id)
            .where(p.c.status == PromiseStatus.PENDING, p.c.customer_id == customer.id)
            .order_by(p.c.promised_date)
        )
    ).all()
    status.promises = [
        PendingPromise(r.number, r.promised_date, r.amount, r.currency) for r in promises
    ]
    disputed = {r.invoice_id for r in disputes}
    promised = {r.invoice_id: r.promised_date for r in promises}
    await _invoices(conn, status, today=today, disputed=disputed, promised=promised)
    status.sequences = await _running(conn, customer.id)
    status.touches = await _touches(conn, customer.id)
    return status


async def _invoices(
    conn: AsyncConnection, status: CustomerStatus, *, today: date, disputed: set[int],
    promised: dict[int, date],
) -> None:  # fmt: skip
    i = Invoice.__table__
    rows = await conn.execute(
        select(i.c.id, i.c.number, i.c.due_date, i.c.open_amount, i.c.currency)
        .where(i.c.customer_id == status.customer.id, i.c.status == InvoiceStatus.OPEN)
        .where(i.c.open_amount > 0)
        .order_by(i.c.due_date, i.c.number)
    )
    balance: dict[str, Decimal] = defaultdict(Decimal)
    aging: dict[str, dict[str, Decimal]] = {}
    for r in rows:
        late = max((today - r.due_date).days, 0)
        balance[r.currency] += r.open_amount
        buckets = aging.setdefault(r.currency, dict.fromkeys(BUCKETS, Decimal(0)))
        buckets[aging_bucket(late)] += r.open_amount
        status.invoice_count += 1
        if len(status.invoices) < SHOWN_INVOICES:
            status.invoices.append(
                OpenInvoice(
                    r.number,
                    r.due_date,
                    r.open_amount,
                    r.currency,
                    late,
                    r.id in disputed,
                    promised.get(r.id),
                )
            )
    status.balance, status.aging = dict(balance), aging


async def _running(conn: AsyncConnection, customer_id: int) -> list[RunningSequence]:
    e, s, i = Enrollment.__table__, SequenceRow.__table__, Invoice.__table__
    rows = await conn.execute(
        select(
            e.c.state, e.c.current_step, e.c.next_action_at, e.c.paused_until, s.c.name, i.c.number
        )
        .join(s, s.c.id == e.c.sequence_id)
        .outerjoin(i, i.c.id == e.c.invoice_id)
        .where(e.c.customer_id == customer_id)
        .where(e.c.state.in_([EnrollmentState.ACTIVE, EnrollmentState.PAUSED]))
        .order_by(s.c.name, i.c.number)
    )
    return [
        RunningSequence(
            r.name, str(r.state), r.number, r.current_step + 1, r.next_action_at, r.paused_until
        )
        for r in rows
    ]


async def _touches(conn: AsyncConnection, customer_id: int) -> list[Touch]:
    o = OutboxMessage.__table__
    rows = await conn.execute(
        select(o.c.sent_at, o.c.channel, o.c.subject)
        .where(o.c.customer_id == customer_id, o.c.state == OutboxState.SENT)
        .where(o.c.channel != OutboxChannel.SLACK)  # team posts are not customer touches
        .order_by(o.c.sent_at.desc())
        .limit(LAST_TOUCHES)
    )
    return [Touch(r.sent_at, str(r.channel), r.subject) for r in rows]
