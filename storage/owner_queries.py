"""Customers' owners as ARSeq knows them: the collector who signs and takes the replies."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

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
