"""What a person does with the links of a message: opens it, clicks, unsubscribes.

A token is only ever looked up, never trusted: a click leads to the one URL stored
with its token, and a token of another kind is as unknown as a made-up one. Each open
and click is an event (its message in `events.outbox_id`, the contact and channel in
`data`), which send-time learning reads back (`storage.engagement_queries`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.engagement_links import EMAIL_OPENED, LINK_CLICKED, UNSUBSCRIBED
from sequences.ledger import opt_out, record_event
from storage.models import Contact, Customer, LinkKind, OutboxMessage, TrackingLink

# What `new_token` makes, with room to spare; anything else is not worth a query.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
EVENT_OF_KIND = {LinkKind.OPEN: EMAIL_OPENED, LinkKind.CLICK: LINK_CLICKED}


@dataclass(frozen=True)
class Link:
    """A known token: its kind, where a click leads, and whom and what message it is about."""

    token: str
    kind: LinkKind
    url: str | None
    outbox_id: int | None
    contact_id: int | None
    customer_id: int | None
    customer_name: str | None
    channel: str
    opted_out: bool


@dataclass(frozen=True)
class Unsubscribed:
    """The outcome of an unsubscribe: `already` when the contact had opted out before."""

    link: Link
    already: bool


async def find_link(conn: AsyncConnection, *, token: str, kind: LinkKind) -> Link | None:
    """The link of `token` if it exists and is of `kind`; None otherwise. Writes nothing."""
    if not _TOKEN.fullmatch(token):
        return None
    t, c = TrackingLink.__table__, Contact.__table__
    o, cu = OutboxMessage.__table__, Customer.__table__
    query = (
        select(
            t,
            c.c.customer_id.label("contact_customer"),
            c.c.channel,
            c.c.opted_out_at,
            o.c.customer_id.label("outbox_customer"),
            o.c.channel.label("outbox_channel"),
            cu.c.name,
        )
        .select_from(t)
        .outerjoin(c, c.c.id == t.c.contact_id)
        .outerjoin(o, o.c.id == t.c.outbox_id)
        .outerjoin(cu, cu.c.id == func.coalesce(c.c.customer_id, o.c.customer_id))
        .where(t.c.token == token, t.c.kind == kind)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Link(
        token=row.token, kind=LinkKind(row.kind), url=row.url, outbox_id=row.outbox_id,
        contact_id=row.contact_id, customer_id=row.contact_customer or row.outbox_customer,
        customer_name=row.name, channel=str(row.channel or row.outbox_channel or "email"),
        opted_out=row.opted_out_at is not None,
    )  # fmt: skip


async def follow_link(
    conn: AsyncConnection, *, token: str, kind: LinkKind, now: datetime
) -> Link | None:
    """Record an open or a click of `token` at `now` and return its link; None if unknown."""
    if kind not in EVENT_OF_KIND:
        raise ValueError(f"only opens and clicks are followed, not {kind}")
    link = await find_link(conn, token=token, kind=kind)
    if link is None:
        return None
    extra = {"url": link.url} if kind == LinkKind.CLICK else {}
    await record_event(
        conn, kind=EVENT_OF_KIND[kind], now=now, actor=_actor(link),
        customer_id=link.customer_id, outbox_id=link.outbox_id, contact_id=link.contact_id,
        channel=link.channel, **extra,
    )  # fmt: skip
    return link


async def unsubscribe(conn: AsyncConnection, *, token: str, now: datetime) -> Unsubscribed | None:
    """Opt the link's contact out and record it; None for an unknown token.

    A second unsubscribe finds the contact opted out already and writes nothing.
    """
    link = await find_link(conn, token=token, kind=LinkKind.UNSUBSCRIBE)
    if link is None or link.contact_id is None:
        return None
    if not await opt_out(conn, contact_id=link.contact_id, actor=_actor(link), now=now):
        return Unsubscribed(link, already=True)
    await record_event(
        conn, kind=UNSUBSCRIBED, now=now, actor=_actor(link), customer_id=link.customer_id,
        outbox_id=link.outbox_id, contact_id=link.contact_id, channel=link.channel,
    )  # fmt: skip
    return Unsubscribed(link, already=False)


def _actor(link: Link) -> str | None:
    return f"contact:{link.contact_id}" if link.contact_id is not None else None
