"""Open collector tasks as `/ar tasks` lists them: everyone's, or one person's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Customer, Invoice, Task, TaskState

SHOWN_TASKS = 20


@dataclass(frozen=True)
class OpenTask:
    id: int
    title: str
    customer: str | None
    invoice: str | None
    assignee: str | None
    due_at: datetime
    snoozed_until: datetime | None  # set while snoozed past `now`


@dataclass(frozen=True)
class TaskList:
    tasks: list[OpenTask]
    total: int


async def open_tasks(
    conn: AsyncConnection, *, now: datetime, assignee: str | None = None, limit: int = SHOWN_TASKS
) -> TaskList:
    """Open and snoozed tasks, oldest due first (of `assignee` when given)."""
    t, c, i = Task.__table__, Customer.__table__, Invoice.__table__
    where = [t.c.state.in_([TaskState.OPEN, TaskState.SNOOZED])]
    if assignee is not None:
        where.append(t.c.assignee_slack_id == assignee)
    rows = await conn.execute(
        select(
            t.c.id,
            t.c.title,
            t.c.assignee_slack_id,
            t.c.due_at,
            t.c.snoozed_until,
            c.c.name,
            i.c.number,
        )
        .outerjoin(c, c.c.id == t.c.customer_id)
        .outerjoin(i, i.c.id == t.c.invoice_id)
        .where(*where)
        .order_by(t.c.due_at, t.c.id)
        .limit(limit)
    )
    total = await conn.scalar(select(func.count()).select_from(t).where(*where))
    tasks = [
        OpenTask(
            r.id,
            r.title,
            r.name,
            r.number,
            r.assignee_slack_id,
            r.due_at,
            r.snoozed_until if r.snoozed_until and r.snoozed_until > now else None,
        )
        for r in rows
    ]
    return TaskList(tasks, int(total or 0))
