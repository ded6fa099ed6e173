"""Tasks and escalations waiting to reach the team: claimed once, posted, remembered.

The engine and the answers write `tasks` rows; an adapter (Slack) posts each one once.
A row is claimed by setting its channel while it has none, in one UPDATE, so two
processes never post the same task; a post that fails releases the claim and the next
pass tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import take_write_lock
from storage.models import Customer, Invoice, Task, TaskState

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
