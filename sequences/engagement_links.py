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
from typing import Any

from sqlalchemy import insert, select
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


@dataclass(frozen=True)
class LinkRequest:
    """The links one message needs: its outbox row, its contact, the URLs it shows."""

    outbox_id: int | None
    contact_id: int | None
    click_urls: tuple[str, ...] = ()


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
    request = LinkRequest(outbox_id, contact_id, tuple(click_urls))
    return (await links_for_messages(conn, [request], public_url=public_url, now=now))[0]


async def links_for_messages(
    conn: AsyncConnection, requests: list[LinkRequest], *, public_url: str, now: datetime
) -> list[MessageLinks]:
    """The links of each message, in order: the tokens an earlier attempt of the same outbox
    row stored when they cover what it shows now, else new ones; one read, one write."""
    t = TrackingLink.__table__
    ids = [r.outbox_id for r in requests if r.outbox_id is not None]
    stored: dict[int, dict[tuple[LinkKind, str | None], str]] = {}
    if ids:
        found = await conn.execute(
            select(t.c.outbox_id, t.c.kind, t.c.token, t.c.url).where(t.c.outbox_id.in_(ids))
        )
        for row in found:
            stored.setdefault(row.outbox_id, {})[(row.kind, row.url)] = row.token
    new_rows: list[dict[str, Any]] = []
    tokens: list[dict[tuple[LinkKind, str | None], str]] = []
    for request in requests:
        wanted = [(LinkKind.OPEN, None), (LinkKind.UNSUBSCRIBE, None)] + [
            (LinkKind.CLICK, url) for url in dict.fromkeys(request.click_urls)
        ]
        earlier = stored.get(request.outbox_id, {}) if request.outbox_id is not None else {}
        if all(key in earlier for key in wanted):
            tokens.append(earlier)
            continue
        fresh = {key: new_token() for key in wanted}
        new_rows += [
            {"token": token, "kind": kind, "url": url, "outbox_id": request.outbox_id,
             "contact_id": request.contact_id, "created_at": now}
            for (kind, url), token in fresh.items()
        ]  # fmt: skip
        tokens.append(fresh)
    if new_rows:
        await conn.execute(insert(t), new_rows)
    return [
        MessageLinks(
            open=link_url(public_url, LinkKind.OPEN, found[LinkKind.OPEN, None]),
            unsubscribe=link_url(
                public_url, LinkKind.UNSUBSCRIBE, found[LinkKind.UNSUBSCRIBE, None]
            ),
            clicks={
                url: link_url(public_url, LinkKind.CLICK, found[LinkKind.CLICK, url])
                for url in dict.fromkeys(request.click_urls)
            },
        )
        for request, found in zip(requests, tokens, strict=True)
    ]
