"""Customers' owners as ARSeq knows them: the collector who signs and takes the replies."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import upsert_insert
from storage.models import Customer, User


async def customer_owners(
    conn: AsyncConnection, customer_ids: Iterable[int | None]
) -> dict[int, dict[str, str | None]]:
    """The owner of each customer, `{"name", "email"}`, where a `users` row names them.

    One query for all the customers. A customer without an owner, or whose owner has no
    `users` row with a name or an email, is left out (templates see `collector` None).
    """
    ids = {cid for cid in customer_ids if cid is not None}
    if not ids:
        return {}
    c, u = Customer.__table__, User.__table__
    found = await conn.execute(
        select(c.c.id, u.c.name, u.c.email)
        .join(u, u.c.slack_user_id == c.c.owner_slack_id)
        .where(c.c.id.in_(ids), or_(u.c.name.is_not(None), u.c.email.is_not(None)))
    )
    return {row.id: {"name": row.name, "email": row.email} for row in found}


async def owners_to_refresh(
    conn: AsyncConnection, *, stale_before: datetime, limit: int
) -> list[str]:
    """Slack ids of customers' owners with no `users` row, or one older than `stale_before`."""
    c, u = Customer.__table__, User.__table__
    found = await conn.scalars(
        select(c.c.owner_slack_id)
        .distinct()
        .outerjoin(u, u.c.slack_user_id == c.c.owner_slack_id)
        .where(
            c.c.owner_slack_id.is_not(None), or_(u.c.id.is_(None), u.c.updated_at < stale_before)
        )
        .order_by(c.c.owner_slack_id)
        .limit(limit)
    )
    return list(found)


async def save_profile(
    conn: AsyncConnection, *, slack_user_id: str, name: str | None, email: str | None,
    now: datetime,
) -> None:  # fmt: skip
    """Store (or refresh) what Slack says of a user: name and email (None: not given)."""
    u = User.__table__
    stmt = upsert_insert(conn)(u).values(
        slack_user_id=slack_user_id, name=name, email=email, created_at=now, updated_at=now
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["slack_user_id"],
            set_={"name": stmt.excluded.name, "email": stmt.excluded.email, "updated_at": now},
        )
    )
