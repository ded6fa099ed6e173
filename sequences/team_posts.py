"""Tasks and escalations waiting to reach the team: claimed once, posted, remembered.

The engine and the answers write `tasks` rows, and the engine starts dispute chains
(`escalations` rows); an adapter (Slack) posts each one once.
A row is claimed by setting its channel while it has none, in one UPDATE, so two
processes never post the same task; a post that fails releases the claim and the next
pass tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sequences.escalation import ChainStep
from storage.db import take_write_lock
from storage.models import (
    Customer,
    Dispute,
    Escalation,
    EscalationState,
    Invoice,
    Task,
    TaskState,
)

ESCALATION = "escalation"


@dataclass(frozen=True)
class TeamPost:
    """One task as the team will see it."""

    task_id: int
    kind: str
    title: str
    body: str | None
    assignee: str | None
    customer: str | None
    invoice: str | None

    @property
    def is_escalation(self) -> bool:
        return self.kind == ESCALATION


async def claim_unposted(
    engine: AsyncEngine, channel_for: Callable[[TeamPost], str | None], *, limit: int = 50
) -> list[tuple[TeamPost, str]]:
    """Open tasks not yet posted, each claimed for the channel `channel_for` names.

    A task whose channel is not configured (None) stays unposted.
    """
    t, c, i = Task.__table__, Customer.__table__, Invoice.__table__
    query = (
        select(
            t.c.id,
            t.c.kind,
            t.c.title,
            t.c.body,
            t.c.assignee_slack_id,
            c.c.name.label("customer"),
            i.c.number.label("invoice"),
        )
        .outerjoin(c, c.c.id == t.c.customer_id)
        .outerjoin(i, i.c.id == t.c.invoice_id)
        .where(t.c.slack_channel.is_(None), t.c.state == TaskState.OPEN)
        .order_by(t.c.id)
        .limit(limit)
    )
    claimed: list[tuple[TeamPost, str]] = []
    async with engine.begin() as conn:
        await take_write_lock(conn)
        for row in (await conn.execute(query)).all():
            post = TeamPost(row.id, row.kind, row.title, row.body, row.assignee_slack_id,
                            row.customer, row.invoice)  # fmt: skip
            channel = channel_for(post)
            if channel is None:
                continue
            won = await conn.execute(
                update(t)
                .where(t.c.id == post.task_id, t.c.slack_channel.is_(None))
                .values(slack_channel=channel)
            )
            if won.rowcount:
                claimed.append((post, channel))
    return claimed


async def record_posted(engine: AsyncEngine, task_id: int, ts: str) -> None:
    """Remember where the task's message is, for updates in place."""
    t = Task.__table__
    async with engine.begin() as conn:
        await conn.execute(update(t).where(t.c.id == task_id).values(slack_ts=ts))


async def release(engine: AsyncEngine, task_id: int) -> None:
    """Give a claimed task back (its post failed): the next pass posts it."""
    t = Task.__table__
    async with engine.begin() as conn:
        await conn.execute(
            update(t).where(t.c.id == task_id, t.c.slack_ts.is_(None)).values(slack_channel=None)
        )


@dataclass(frozen=True)
class EscalationView:
    """A dispute's escalation and what its message shows."""

    id: int
    dispute_id: int
    chain: list[ChainStep]
    level: int
    state: str
    next_at: datetime | None
    guard: int
    slack_channel: str | None
    slack_ts: str | None
    dispute_status: str
    reason: str
    opened_by: str | None
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    credit_amount: Decimal | None
    invoice: str
    open_amount: Decimal
    amount: Decimal
    currency: str
    customer: str
    owner: str | None


def _escalations_query() -> Any:
    e, d, i, c = (Escalation.__table__, Dispute.__table__, Invoice.__table__,
                  Customer.__table__)  # fmt: skip
    return (
        select(
            e.c.id,
            e.c.dispute_id,
            e.c.chain,
            e.c.level,
            e.c.state,
            e.c.next_at,
            e.c.guard,
            e.c.slack_channel,
            e.c.slack_ts,
            d.c.status,
            d.c.reason,
            d.c.opened_by,
            d.c.opened_at,
            d.c.acknowledged_by,
            d.c.acknowledged_at,
            d.c.resolved_by,
            d.c.resolved_at,
            d.c.resolution,
            d.c.credit_amount,
            i.c.number,
            i.c.open_amount,
            i.c.amount,
            i.c.currency,
            c.c.name,
            c.c.owner_slack_id,
        )
        .join(d, d.c.id == e.c.dispute_id)
        .join(i, i.c.id == d.c.invoice_id)
        .join(c, c.c.id == d.c.customer_id)
    )


def _escalation(row: Any) -> EscalationView:
    values = list(row)
    values[2] = [ChainStep.from_json(s) for s in row.chain]
    return EscalationView(*values)


async def load_escalations(
    conn: AsyncConnection, where: Any, limit: int = 50
) -> list[EscalationView]:
    """The escalations matching `where` (over the escalations table), oldest first."""
    e = Escalation.__table__
    rows = await conn.execute(_escalations_query().where(where).order_by(e.c.id).limit(limit))
    return [_escalation(r) for r in rows]


async def escalation_of(conn: AsyncConnection, dispute_id: int) -> EscalationView | None:
    """The dispute's escalation, if its chain has started."""
    found = await load_escalations(conn, Escalation.__table__.c.dispute_id == dispute_id)
    return found[0] if found else None


async def claim_unposted_escalations(
    engine: AsyncEngine, channel: str, *, limit: int = 50
) -> list[EscalationView]:
    """Active escalations not yet posted, claimed for `channel` (one process posts each)."""
    e = Escalation.__table__
    claimed = []
    async with engine.begin() as conn:
        await take_write_lock(conn)
        waiting = await load_escalations(
            conn, (e.c.slack_channel.is_(None)) & (e.c.state == EscalationState.ACTIVE), limit
        )
        for view in waiting:
            won = await conn.execute(
                update(e).where(e.c.id == view.id, e.c.slack_channel.is_(None))
                .values(slack_channel=channel)
            )  # fmt: skip
            if won.rowcount:
                claimed.append(replace(view, slack_channel=channel))
    return claimed


async def record_escalation_posted(engine: AsyncEngine, escalation_id: int, ts: str) -> None:
    """Remember where the dispute's message is, for thread replies and updates in place."""
    e = Escalation.__table__
    async with engine.begin() as conn:
        await conn.execute(update(e).where(e.c.id == escalation_id).values(slack_ts=ts))


async def release_escalation(engine: AsyncEngine, escalation_id: int) -> None:
    """Give a claimed escalation back (its post failed): the next pass posts it."""
    e = Escalation.__table__
    async with engine.begin() as conn:
        await conn.execute(
            update(e)
            .where(e.c.id == escalation_id, e.c.slack_ts.is_(None))
            .values(slack_channel=None)
        )


async def due_chains(
    conn: AsyncConnection, *, now: datetime, limit: int = 50
) -> list[EscalationView]:
    """Posted, active chains whose next step has come."""
    e = Escalation.__table__
    where = (e.c.state == EscalationState.ACTIVE) & (e.c.next_at <= now) & e.c.slack_ts.is_not(None)
    return await load_escalations(conn, where, limit)
