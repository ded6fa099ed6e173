"""Queries of the daily digest: its lists, the KPI snapshots, and once-a-day claims."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select, type_coerce, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import upsert_insert
from storage.kpi_queries import COUNTED, received_after
from storage.models import (
    Customer,
    DailyClaim,
    Invoice,
    KpiSnapshot,
    Task,
    TaskState,
)
from storage.types import Money


async def top_overdue(conn: AsyncConnection, *, as_of: date, limit: int) -> Sequence[Row]:
    """The customers owing the most past due at the end of `as_of` (balances as of then).

    Columns: name, owner, currency, amount, oldest_due, invoices.
    """
    i, c = Invoice.__table__, Customer.__table__
    paid, credited = received_after(as_of, as_of)
    balance = type_coerce(
        i.c.open_amount
        + func.coalesce(paid.c.after_end, 0)
        + func.coalesce(credited.c.after_end, 0),
        Money(),
    )
    owed = (
        select(i.c.customer_id, i.c.currency, i.c.due_date, balance.label("balance"))
        .outerjoin(paid, paid.c.invoice_id == i.c.id)
        .outerjoin(credited, credited.c.invoice_id == i.c.id)
        .where(i.c.status.in_(COUNTED), i.c.issue_date <= as_of, i.c.due_date < as_of)
        .where(balance > 0)
        .subquery()
    )
    total = type_coerce(func.sum(owed.c.balance), Money())
    query = (
        select(
            c.c.name,
            c.c.owner_slack_id.label("owner"),
            owed.c.currency,
            total.label("amount"),
            func.min(owed.c.due_date).label("oldest_due"),
            func.count().label("invoices"),
        )
        .join(c, c.c.id == owed.c.customer_id)
        .group_by(c.c.id, c.c.name, c.c.owner_slack_id, owed.c.currency)
        .order_by(total.desc(), c.c.name)
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def open_tasks_per_assignee(conn: AsyncConnection) -> list[tuple[str | None, int]]:
    """Open (and snoozed) collector tasks per assignee, most first."""
    t = Task.__table__
    rows = await conn.execute(
        select(t.c.assignee_slack_id, func.count())
        .where(t.c.state.in_([TaskState.OPEN, TaskState.SNOOZED]))
        .group_by(t.c.assignee_slack_id)
        .order_by(func.count().desc())
    )
    return [(who, int(n)) for who, n in rows]


# -- snapshots and once-a-day claims ---------------------------------------------------------


async def save_snapshot(
    conn: AsyncConnection, *, as_of: date, currency: str, data: dict, now: datetime
) -> None:
    """Store (or replace) the KPIs of one day and currency."""
    k = KpiSnapshot.__table__
    stmt = upsert_insert(conn)(k).values(as_of=as_of, currency=currency, data=data, created_at=now)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["as_of", "currency"],
            set_={"data": stmt.excluded.data, "created_at": stmt.excluded.created_at},
        )
    )


async def load_snapshots(conn: AsyncConnection, *, as_of: date) -> dict[str, dict]:
    """The stored KPIs of one day, per currency (empty if none was taken)."""
    k = KpiSnapshot.__table__
    rows = await conn.execute(select(k.c.currency, k.c.data).where(k.c.as_of == as_of))
    return {cur: data for cur, data in rows}


async def claim_day(
    conn: AsyncConnection,
    *,
    job: str,
    day: date,
    worker: str,
    now: datetime,
    stale_before: datetime | None = None,
) -> bool:
    """Claim a once-a-day job: True for the one caller whose statement took the row.

    INSERT ... ON CONFLICT DO NOTHING on the unique (job, day): the database settles a
    race between workers (on PostgreSQL a concurrent insert waits for the first one's
    commit, then does nothing), so exactly one caller gets True. A claim never marked
    done and taken before `stale_before` (its worker died) is taken over by one UPDATE.
    """
    dc = DailyClaim.__table__
    stmt = (
        upsert_insert(conn)(dc)
        .values(job=job, day=day, claimed_by=worker, claimed_at=now)
        .on_conflict_do_nothing(index_elements=["job", "day"])
        .returning(dc.c.id)
    )
    if (await conn.execute(stmt)).first() is not None:
        return True
    if stale_before is None:
        return False
    takeover = (
        update(dc)
        .where(dc.c.job == job, dc.c.day == day, dc.c.done_at.is_(None))
        .where(dc.c.claimed_at < stale_before)
        .values(claimed_by=worker, claimed_at=now)
        .returning(dc.c.id)
    )
    return (await conn.execute(takeover)).first() is not None


async def release_day(conn: AsyncConnection, *, job: str, day: date, worker: str) -> None:
    """Give a claim back (the work failed), so a later run tries again."""
    dc = DailyClaim.__table__
    await conn.execute(
        dc.delete().where(dc.c.job == job, dc.c.day == day, dc.c.claimed_by == worker)
    )


async def finish_day(conn: AsyncConnection, *, job: str, day: date, now: datetime) -> None:
    """Mark a claimed day's job done."""
    dc = DailyClaim.__table__
    await conn.execute(dc.update().where(dc.c.job == job, dc.c.day == day).values(done_at=now))
