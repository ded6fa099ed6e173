"""Set-based queries behind the KPIs, exact as of any past date.

An invoice's balance at the end of day D is its open amount today plus every payment
dated after D and every dispute credit granted after D: what was received later is
added back, so a past as-of needs no history table. Invoices issued after D, void or
written off do not count. Each query reads whole sets (GROUP BY in the database); none
loops over invoices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    Customer,
    Dispute,
    Invoice,
    InvoiceStatus,
    OutboxMessage,
    OutboxState,
    Payment,
    Promise,
)
from storage.models import Sequence as SequenceRow
from storage.types import Money

# Aging buckets by days past due at the end of D.
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
CLOSED = "closed"  # open at the start of the month, settled by D (CEI needs it)
COUNTED = (InvoiceStatus.OPEN, InvoiceStatus.PAID)


def end_of(day: date) -> datetime:
    """The first instant after `day` ends, UTC: `at < end_of(D)` means "on or before D"."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def received_after(start: date, as_of: date):  # type: ignore[no-untyped-def]
    """Per invoice: payments and credits dated after `start`, and those after `as_of`."""
    p, d = Payment.__table__, Dispute.__table__
    paid = (
        select(
            p.c.invoice_id,
            func.sum(p.c.amount).label("after_start"),
            func.sum(case((p.c.paid_at > as_of, p.c.amount), else_=0)).label("after_end"),
        )
        .where(p.c.paid_at > start)
        .group_by(p.c.invoice_id)
        .subquery()
    )
    late = d.c.resolved_at >= end_of(as_of)
    credited = (
        select(
            d.c.invoice_id,
            func.sum(d.c.credit_amount).label("after_start"),
            func.sum(case((late, d.c.credit_amount), else_=0)).label("after_end"),
        )
        .where(d.c.credit_amount.is_not(None), d.c.resolved_at >= end_of(start))
        .group_by(d.c.invoice_id)
        .subquery()
    )
    return paid, credited


@dataclass(frozen=True)
class AgingRow:
    """Receivables of one currency, collector and bucket at D (and at the month's start)."""

    currency: str
    owner: str | None
    bucket: str
    amount: Decimal  # open at the end of D
    invoices: int
    amount_at_start: Decimal  # open at the end of the day before the month began


async def aging_rows(conn: AsyncConnection, *, as_of: date, start: date) -> list[AgingRow]:
    """Open receivables at the end of `as_of` by currency, owner and aging bucket.

    `start` is the day before the period of CEI: the same scan also sums what was open
    then, so invoices open at `start` but settled by `as_of` come back as bucket "closed".
    `start` must be before `as_of`.
    """
    i, c = Invoice.__table__, Customer.__table__
    paid, credited = received_after(start, as_of)
    money = Money()
    at_start = type_coerce(
        i.c.open_amount
        + func.coalesce(paid.c.after_start, 0)
        + func.coalesce(credited.c.after_start, 0),
        money,
    )
    at_end = type_coerce(
        i.c.open_amount
        + func.coalesce(paid.c.after_end, 0)
        + func.coalesce(credited.c.after_end, 0),
        money,
    )
    issued_by_start = i.c.issue_date <= start
    bucket = case(
        (at_end <= 0, literal(CLOSED)),
        (i.c.due_date >= as_of, literal("current")),
        (i.c.due_date >= as_of - timedelta(days=30), literal("1-30")),
        (i.c.due_date >= as_of - timedelta(days=60), literal("31-60")),
        (i.c.due_date >= as_of - timedelta(days=90), literal("61-90")),
        else_=literal("90+"),
    ).label("bucket")
    per_invoice = (
        select(
            i.c.currency,
            c.c.owner_slack_id.label("owner"),
            bucket,
            case((at_end > 0, at_end), else_=0).label("at_end"),
            case((issued_by_start & (at_start > 0), at_start), else_=0).label("at_start"),
        )
        .select_from(i)
        # `+ 0` keeps SQLite from driving the scan through customers and the invoices'
        # customer index (random reads of every invoice); PostgreSQL plans it the same.
        .join(c, c.c.id == i.c.customer_id + 0)
        .outerjoin(paid, paid.c.invoice_id == i.c.id)
        .outerjoin(credited, credited.c.invoice_id == i.c.id)
        .where(i.c.status.in_(COUNTED), i.c.issue_date <= as_of)
        .where(or_(at_end > 0, and_(issued_by_start, at_start > 0)))
        .subquery()
    )
    query = select(
        per_invoice.c.currency,
        per_invoice.c.owner,
        per_invoice.c.bucket,
        type_coerce(func.sum(per_invoice.c.at_end), money),
        func.count(),
        type_coerce(func.sum(per_invoice.c.at_start), money),
    ).group_by(per_invoice.c.currency, per_invoice.c.owner, per_invoice.c.bucket)
    rows = (await conn.execute(query)).all()
    return [
        AgingRow(cur, owner, b, Decimal(end or 0), int(n), Decimal(begin or 0))
        for cur, owner, b, end, n, begin in rows
    ]


async def daily_sales(
    conn: AsyncConnection, *, since: date, until: date
) -> list[tuple[str, date, Decimal]]:
    """Credit sales (invoiced amounts) per currency and issue day in [since, until]."""
    i = Invoice.__table__
    # Grouped in the order of ix_invoices_sales: one pass over the covering index.
    rows = await conn.execute(
        select(i.c.issue_date, i.c.currency, func.sum(i.c.amount))
        .where(i.c.issue_date >= since, i.c.issue_date <= until, i.c.status.in_(COUNTED))
        .group_by(i.c.issue_date, i.c.currency)
    )
    return [(cur, day, Decimal(total)) for day, cur, total in rows]


async def collected(
    conn: AsyncConnection, *, as_of: date, month_start: date
) -> list[tuple[str, Decimal, Decimal]]:
    """Per currency: (collected on `as_of` - 1 day, collected from `month_start` to `as_of`)."""
    p, i = Payment.__table__, Invoice.__table__
    yesterday = as_of - timedelta(days=1)
    low = min(yesterday, month_start)
    money = Money()
    rows = await conn.execute(
        select(
            i.c.currency,
            type_coerce(func.sum(case((p.c.paid_at == yesterday, p.c.amount), else_=0)), money),
            type_coerce(func.sum(case((p.c.paid_at >= month_start, p.c.amount), else_=0)), money),
        )
        .join(i, i.c.id == p.c.invoice_id)
        .where(p.c.paid_at >= low, p.c.paid_at <= as_of)
        .group_by(i.c.currency)
    )
    return [(cur, Decimal(y or 0), Decimal(m or 0)) for cur, y, m in rows]


async def promises_around(conn: AsyncConnection, *, since: date, as_of: date) -> Sequence[Row]:
    """Promises made by the end of `as_of` that fell due, or were settled, in [since, as_of].

    Columns: currency, promised_date, amount, status, resolved_at, number, customer.
    The caller reads the status as of D: one settled after D was still pending then.
    """
    pr, i, c = Promise.__table__, Invoice.__table__, Customer.__table__
    end = end_of(as_of)
    settled_in = and_(pr.c.resolved_at >= end_of(since - timedelta(days=1)), pr.c.resolved_at < end)
    query = (
        select(
            i.c.currency,
            pr.c.promised_date,
            pr.c.amount,
            pr.c.status,
            pr.c.resolved_at,
            i.c.number,
            c.c.name.label("customer"),
            c.c.owner_slack_id.label("owner"),
        )
        .join(i, i.c.id == pr.c.invoice_id)
        .join(c, c.c.id == pr.c.customer_id)
        .where(pr.c.created_at < end)
        .where(or_(and_(pr.c.promised_date >= since, pr.c.promised_date <= as_of), settled_in))
        .order_by(pr.c.promised_date, i.c.number)
    )
    return (await conn.execute(query)).all()


async def open_disputes_at(conn: AsyncConnection, *, as_of: date) -> Sequence[Row]:
    """Disputes open at the end of `as_of`: currency, opened_at, acknowledged, invoice."""
    d, i, c = Dispute.__table__, Invoice.__table__, Customer.__table__
    end = end_of(as_of)
    acknowledged = and_(d.c.acknowledged_at.is_not(None), d.c.acknowledged_at < end)
    query = (
        select(
            i.c.currency,
            d.c.opened_at,
            acknowledged.label("acknowledged"),
            i.c.number,
            i.c.open_amount,
            c.c.name.label("customer"),
            d.c.reason,
        )
        .join(i, i.c.id == d.c.invoice_id)
        .join(c, c.c.id == d.c.customer_id)
        .where(d.c.opened_at < end, or_(d.c.resolved_at.is_(None), d.c.resolved_at >= end))
        .order_by(d.c.opened_at)
    )
    return (await conn.execute(query)).all()


async def touches(conn: AsyncConnection, *, since: datetime, until: datetime) -> Sequence[Row]:
    """Customer messages sent in [since, until): sequence name, variant, date, invoices."""
    o, s = OutboxMessage.__table__, SequenceRow.__table__
    query = (
        select(o.c.id, s.c.name.label("sequence"), o.c.variant, o.c.sent_at, o.c.invoice_ids)
        .join(s, s.c.id == o.c.sequence_id)
        .where(o.c.kind == "customer_message", o.c.state == OutboxState.SENT)
        .where(o.c.sent_at >= since, o.c.sent_at < until)
    )
    return (await conn.execute(query)).all()


async def payment_days(
    conn: AsyncConnection, *, invoice_ids: set[int], since: date, until: date
) -> dict[int, list[date]]:
    """The days each of these invoices received a payment in [since, until]."""
    if not invoice_ids:
        return {}
    p = Payment.__table__
    found: dict[int, list[date]] = {}
    ids = sorted(invoice_ids)
    for start in range(0, len(ids), 5000):  # bounded IN lists
        rows = await conn.execute(
            select(p.c.invoice_id, p.c.paid_at).where(
                p.c.invoice_id.in_(ids[start : start + 5000]),
                p.c.paid_at >= since,
                p.c.paid_at <= until,
            )
        )
        for invoice_id, day in rows:
            found.setdefault(invoice_id, []).append(day)
    return found
