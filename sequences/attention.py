"""What one collector should look at (App Home): open tasks and accounts needing attention.

Accounts needing attention are the collector's own (customers they own): the largest
overdue balances, promises broken in the last 30 days, and open disputes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import (
    Customer,
    Dispute,
    DisputeStatus,
    Invoice,
    InvoiceStatus,
    Promise,
    PromiseStatus,
    Task,
    TaskState,
)

SHOWN = 10
BROKEN_WITHIN = timedelta(days=30)


@dataclass(frozen=True)
class Attention:
    """The App Home of one collector, as plain rows."""

    tasks: list[Row]  # id, kind, title, due_at, customer
    overdue: list[Row]  # customer_id, name, external_id, currency, amount, invoices, oldest_due
    broken_promises: list[Row]  # customer_id, name, number, promised_date, amount
    disputes: list[Row]  # customer_id, name, number, reason, opened_at, acknowledged


async def attention_for(
    conn: AsyncConnection, *, user: str, today: date, now: datetime
) -> Attention:
    """The open tasks assigned to `user` and the accounts they own that need attention."""
    t, c, i = Task.__table__, Customer.__table__, Invoice.__table__
    p, d = Promise.__table__, Dispute.__table__
    tasks = await conn.execute(
        select(t.c.id, t.c.kind, t.c.title, t.c.due_at, c.c.name.label("customer"))
        .outerjoin(c, c.c.id == t.c.customer_id)
        .where(t.c.state == TaskState.OPEN, t.c.assignee_slack_id == user)
        .order_by(t.c.due_at, t.c.id)
        .limit(SHOWN)
    )
    amount = func.sum(i.c.open_amount)
    overdue = await conn.execute(
        select(
            c.c.id.label("customer_id"),
            c.c.name,
            c.c.external_id,
            i.c.currency,
            amount.label("amount"),
            func.count().label("invoices"),
            func.min(i.c.due_date).label("oldest_due"),
        )
        .join(c, c.c.id == i.c.customer_id)
        .where(c.c.owner_slack_id == user, i.c.status == InvoiceStatus.OPEN)
        .where(i.c.due_date < today, i.c.open_amount > 0)
        .group_by(c.c.id, c.c.name, c.c.external_id, i.c.currency)
        .order_by(amount.desc(), c.c.name)
        .limit(SHOWN)
    )
    broken = await conn.execute(
        select(c.c.id.label("customer_id"), c.c.name, i.c.number, p.c.promised_date, p.c.amount)
        .join(c, c.c.id == p.c.customer_id)
        .join(i, i.c.id == p.c.invoice_id)
        .where(c.c.owner_slack_id == user, p.c.status == PromiseStatus.BROKEN)
        .where(p.c.resolved_at >= now - BROKEN_WITHIN)
        .order_by(p.c.promised_date.desc())
        .limit(SHOWN)
    )
    disputes = await conn.execute(
        select(
            c.c.id.label("customer_id"),
            c.c.name,
            i.c.number,
            d.c.reason,
            d.c.opened_at,
            d.c.acknowledged_at.is_not(None).label("acknowledged"),
        )
        .join(c, c.c.id == d.c.customer_id)
        .join(i, i.c.id == d.c.invoice_id)
        .where(c.c.owner_slack_id == user, d.c.status != DisputeStatus.RESOLVED)
        .order_by(d.c.opened_at)
        .limit(SHOWN)
    )
    return Attention(list(tasks), list(overdue), list(broken), list(disputes))
