"""Engagement links: the unguessable tokens behind `/o`, `/r` and `/u` in outgoing messages.

A channel asks for the links of one message when it builds it: an open pixel, an
unsubscribe link, and a click-tracked link for each URL it shows. Each token is a row of
`tracking_links` (kind, message, contact, and for a click the one URL it may lead to),
so the HTTP side never redirects anywhere it was not told to. What a person does with a
link is an event with one of the kinds below, which send-time learning reads.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import LinkKind, TrackingLink

# Event kinds of engagement (the audit trail's `events.kind`).
EMAIL_OPENED = "email_opened"
LINK_CLICKED = "link_clicked"
UNSUBSCRIBED = "unsubscribed"
TELEGRAM_PRESSED = "telegram_pressed"
ENGAGEMENT_KINDS = (EMAIL_OPENED, LINK_CLICKED, TELEGRAM_PRESSED)

# The path of each kind of link under ARSEQ_PUBLIC_URL.
PATHS = {LinkKind.OPEN: "o", LinkKind.CLICK: "r", LinkKind.UNSUBSCRIBE: "u"}
TOKEN_BYTES = 24  # 192 bits: not guessable, short enough for a URL


def new_token() -> str:
    """A fresh random URL-safe token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def link_url(public_url: str, kind: LinkKind, token: str) -> str:
    """The full URL of a token: `{public_url}/{o|r|u}/{token}`."""
    return f"{public_url.rstrip('/')}/{PATHS[kind]}/{token}"


@dataclass(frozen=True)
class MessageLinks:
    """The links of one message, as full URLs."""

    open: str
    unsubscribe: str
    clicks: dict[str, str] = field(default_factory=dict)  # target URL -> tracked URL


async def create_message_links(
    conn: AsyncConnection,
    *,
    public_url: str,
    outbox_id: int | None,
    contact_id: int | None,
    click_urls: list[str],
    now: datetime,
) -> MessageLinks:
    """Store the tokens of one message (open, unsubscribe, one per URL) and return its links."""
    rows = [
        {"kind": LinkKind.OPEN, "url": None},
        {"kind": LinkKind.UNSUBSCRIBE, "url": None},
        *({"kind": LinkKind.CLICK, "url": url} for url in dict.fromkeys(click_urls)),
    ]
    for row in rows:
        row.update(token=new_token(), outbox_id=outbox_id, contact_id=contact_id, created_at=now)
    await conn.execute(insert(TrackingLink.__table__), rows)
    by_kind = {row["kind"]: row["token"] for row in rows if row["kind"] != LinkKind.CLICK}
    return MessageLinks(
        open=link_url(public_url, LinkKind.OPEN, by_kind[LinkKind.OPEN]),
        unsubscribe=link_url(public_url, LinkKind.UNSUBSCRIBE, by_kind[LinkKind.UNSUBSCRIBE]),
        clicks={
            row["url"]: link_url(public_url, LinkKind.CLICK, row["token"])
            for row in rows
            if row["kind"] == LinkKind.CLICK
        },
    )
