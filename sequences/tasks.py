"""Collector tasks at work: done, snoozed, reassigned, a call logged, re-pinged when overdue.

Every change is one conditional UPDATE (a second click finds the task already changed and
does nothing, returning False) written with its event in the caller's transaction. A
call that ends in a promise or a dispute goes through `sequences.promises` and
`sequences.disputes`, so it has the same effects as one recorded any other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sequences.disputes import open_dispute
from sequences.ledger import LedgerError, record_event
from sequences.promises import record_promise
from storage import digest_queries as dq
from storage.models import Customer, Invoice, InvoiceStatus, Task, TaskState

REPING_JOB = "task_repings"
# A task is overdue, and re-pinged, once it has been open this long.
OVERDUE_AFTER = timedelta(days=1)
LIVE = (TaskState.OPEN, TaskState.SNOOZED)


class CallOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    PROMISED = "promised"
    DISPUTED = "disputed"


@dataclass(frozen=True)
class CallLog:
    """A call as the collector logged it (`promised_*` / `reason` for those outcomes)."""

    outcome: CallOutcome
    note: str = ""
    promised_date: date | None = None
    promised_amount: Decimal | None = None
    reason: str = ""


@dataclass(frozen=True)
class TaskView:
    """One task and what its message shows."""

    id: int
    kind: str
    title: str
    body: str | None
    assignee: str | None
    state: str
    due_at: datetime
    snoozed_until: datetime | None
    done_by: str | None
    done_at: datetime | None
    outcome: str | None
    customer: str | None
    invoice: str | None
    open_amount: Decimal | None
    currency: str | None
    due_date: date | None
    slack_channel: str | None
    slack_ts: str | None

    @property
    def live(self) -> bool:
        return self.state in LIVE


def _views_query() -> Any:
    t, c, i = Task.__table__, Customer.__table__, Invoice.__table__
    return (
        select(
            t.c.id,
            t.c.kind,
            t.c.title,
            t.c.body,
            t.c.assignee_slack_id,
            t.c.state,
            t.c.due_at,
            t.c.snoozed_until,
            t.c.done_by,
            t.c.done_at,
            t.c.outcome,
            c.c.name.label("customer"),
            i.c.number.label("invoice"),
            i.c.open_amount,
            i.c.currency,
            i.c.due_date,
            t.c.slack_channel,
            t.c.slack_ts,
        )
        .outerjoin(c, c.c.id == t.c.customer_id)
        .outerjoin(i, i.c.id == t.c.invoice_id)
    )


async def load_tasks(conn: AsyncConnection, task_ids: list[int]) -> list[TaskView]:
    """The tasks with these ids, in id order."""
    if not task_ids:
        return []
    t = Task.__table__
    rows = await conn.execute(_views_query().where(t.c.id.in_(task_ids)).order_by(t.c.id))
    return [TaskView(*row) for row in rows]


async def load_task(conn: AsyncConnection, task_id: int) -> TaskView:
    """One task; LedgerError if it does not exist."""
    found = await load_tasks(conn, [task_id])
    if not found:
        raise LedgerError(f"task #{task_id} no longer exists")
    return found[0]


async def _change(
    conn: AsyncConnection, task: TaskView, event: str, actor: str, now: datetime, *conditions: Any,
    **values: Any,
) -> bool:  # fmt: skip
    t = Task.__table__
    done = await conn.execute(update(t).where(t.c.id == task.id, *conditions).values(**values))
    if not done.rowcount:
        return False
    data = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
    await record_event(conn, kind=event, now=now, actor=actor, task_id=task.id, **data)
    return True


async def complete_task(
    conn: AsyncConnection, *, task_id: int, actor: str, now: datetime, outcome: str | None = None
) -> bool:
    """Mark the task done; False if it was done already."""
    task = await load_task(conn, task_id)
    t = Task.__table__
    return await _change(
        conn, task, "task_done", actor, now, t.c.state.in_(LIVE),
        state=TaskState.DONE, done_at=now, done_by=actor, outcome=outcome, snoozed_until=None,
    )  # fmt: skip


async def snooze_task(
    conn: AsyncConnection, *, task_id: int, until: datetime, actor: str, now: datetime
) -> bool:
    """Hide the task until `until`; False unless it was open (snoozed already, or done)."""
    if until <= now:
        raise LedgerError("a snooze must end in the future")
    task = await load_task(conn, task_id)
    t = Task.__table__
    return await _change(
        conn, task, "task_snoozed", actor, now, t.c.state == TaskState.OPEN,
        state=TaskState.SNOOZED, snoozed_until=until,
    )  # fmt: skip


async def reassign_task(
    conn: AsyncConnection, *, task_id: int, assignee: str, actor: str, now: datetime
) -> bool:
    """Give the task to `assignee`; False if it is done or theirs already."""
    if not assignee.strip():
        raise LedgerError("choose someone to give the task to")
    task = await load_task(conn, task_id)
    t = Task.__table__
    return await _change(
        conn, task, "task_reassigned", actor, now, t.c.state.in_(LIVE),
        or_(t.c.assignee_slack_id.is_(None), t.c.assignee_slack_id != assignee),
        assignee_slack_id=assignee,
    )  # fmt: skip


async def _call_invoice(conn: AsyncConnection, task_id: int) -> int:
    """The invoice a call is about: the task's, else the customer's oldest open one."""
    t, i = Task.__table__, Invoice.__table__
    row = (
        await conn.execute(select(t.c.invoice_id, t.c.customer_id).where(t.c.id == task_id))
    ).one()
    if row.invoice_id is not None:
        return int(row.invoice_id)
    oldest = await conn.scalar(
        select(i.c.id)
        .where(i.c.customer_id == row.customer_id, i.c.status == InvoiceStatus.OPEN)
        .order_by(i.c.due_date, i.c.id)
        .limit(1)
    )
    if oldest is None:
        raise LedgerError("this customer has no open invoice to record that on")
    return int(oldest)


def describe_call(call: CallLog) -> str:
    """The call in a few words, as the task's outcome shows it."""
    words = {
        CallOutcome.REACHED: "reached",
        CallOutcome.NO_ANSWER: "no answer",
        CallOutcome.PROMISED: f"promised to pay by {call.promised_date}"
        + (f" ({call.promised_amount:f})" if call.promised_amount is not None else ""),
        CallOutcome.DISPUTED: f"disputed: {call.reason.strip()}",
    }[call.outcome]
    return f"{words}: {call.note.strip()}" if call.note.strip() else words


async def log_call(
    conn: AsyncConnection, *, task_id: int, call: CallLog, actor: str, now: datetime
) -> bool:
    """Log a call on the task; a promise or a dispute is recorded on its invoice.

    No answer leaves the task open; any other outcome completes it. False if the task
    was done already (nothing is recorded). LedgerError for a call that cannot be
    recorded (a past promise date, a dispute without a reason...), before any write.
    """
    task = await load_task(conn, task_id)
    if not task.live:
        return False
    if call.outcome is CallOutcome.PROMISED:
        if call.promised_date is None or call.promised_date < now.date():
            raise LedgerError("the promised date must be today or later")
        invoice_id = await _call_invoice(conn, task_id)
        await record_promise(
            conn,
            invoice_id=invoice_id,
            promised_date=call.promised_date,
            amount=call.promised_amount,
            source="call",
            actor=actor,
            now=now,
        )
    elif call.outcome is CallOutcome.DISPUTED:
        if not call.reason.strip():
            raise LedgerError("a dispute needs a reason")
        invoice_id = await _call_invoice(conn, task_id)
        await open_dispute(conn, invoice_id=invoice_id, reason=call.reason, actor=actor, now=now)
    said = describe_call(call)
    await record_event(
        conn, kind="call_logged", now=now, actor=actor, reason=said, task_id=task_id,
        outcome=str(call.outcome),
    )  # fmt: skip
    t = Task.__table__
    if call.outcome is CallOutcome.NO_ANSWER:
        await conn.execute(update(t).where(t.c.id == task_id).values(outcome=said))
        return True
    return await _change(
        conn, task, "task_done", actor, now, t.c.state.in_(LIVE),
        state=TaskState.DONE, done_at=now, done_by=actor, outcome=said, snoozed_until=None,
    )  # fmt: skip


async def wake_snoozed(conn: AsyncConnection, *, now: datetime) -> list[int]:
    """Snoozed tasks whose snooze has ended are open again (and count as pinged): their ids."""
    t = Task.__table__
    woken = await conn.execute(
        update(t)
        .where(t.c.state == TaskState.SNOOZED, t.c.snoozed_until <= now)
        # Its coming back is announced: that counts as the day's ping.
        .values(state=TaskState.OPEN, snoozed_until=None, last_pinged_at=now)
        .returning(t.c.id)
    )
    return sorted(int(r.id) for r in woken)


async def claim_repings(engine: AsyncEngine, *, day: date, worker: str, now: datetime) -> bool:
    """Take the day's re-pings: True for exactly one caller across workers (like the digest)."""
    async with engine.begin() as conn:
        return await dq.claim_day(
            conn,
            job=REPING_JOB,
            day=day,
            worker=worker,
            now=now,
            stale_before=now - timedelta(hours=1),
        )


async def finish_repings(engine: AsyncEngine, *, day: date, now: datetime) -> None:
    async with engine.begin() as conn:
        await dq.finish_day(conn, job=REPING_JOB, day=day, now=now)


async def overdue_tasks(
    conn: AsyncConnection, *, now: datetime, limit: int = 500
) -> list[TaskView]:
    """Open, posted tasks older than a day and not pinged in the last day, oldest first."""
    t = Task.__table__
    since = now - OVERDUE_AFTER
    query = _views_query().where(
        t.c.state == TaskState.OPEN, t.c.slack_ts.is_not(None), t.c.due_at <= since,
        or_(t.c.last_pinged_at.is_(None), t.c.last_pinged_at <= now - timedelta(hours=20)),
    )  # fmt: skip
    return [TaskView(*row) for row in await conn.execute(query.order_by(t.c.due_at).limit(limit))]


async def mark_pinged(conn: AsyncConnection, *, task_id: int, now: datetime) -> None:
    t = Task.__table__
    await conn.execute(update(t).where(t.c.id == task_id).values(last_pinged_at=now))
