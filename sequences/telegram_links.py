"""Linking a customer's Telegram chat: one-time tokens from `/ar link`, redeemed by `/start`.

Only a token's sha256 is stored, so a copy of the database cannot link a chat. A token
works once and for `LINK_TTL`; redeeming it makes the chat a Telegram contact of the
customer (or revives that contact, when the same chat links again after /stop or a
block). A wrong, used or expired token changes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.ledger import LedgerError, record_event
from storage.models import Contact, ContactChannel, Customer, TelegramLinkToken

LINK_TTL = timedelta(days=7)
TOKEN_BYTES = 24  # 32 URL-safe characters: inside Telegram's 64 for a /start payload
TELEGRAM_LINK_ISSUED = "telegram_link_issued"
TELEGRAM_LINKED = "telegram_linked"


class LinkRefusal(enum.StrEnum):
    """Why a token did not link the chat."""

    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Linked:
    """A chat linked to a customer: the customer and the chat's contact row."""

    customer_id: int
    customer_name: str
    contact_id: int


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def chat_actor(chat_id: int) -> str:
    """How the audit trail names a Telegram chat."""
    return f"telegram:{chat_id}"


async def issue_link_token(
    conn: AsyncConnection, *, customer_id: int, actor: str, now: datetime
) -> str:
    """A fresh one-time token linking a chat to the customer for 7 days (only its hash kept)."""
    if await conn.scalar(select(Customer.id).where(Customer.id == customer_id)) is None:
        raise LedgerError(f"no customer with id {customer_id}")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires = now + LINK_TTL
    await conn.execute(
        insert(TelegramLinkToken.__table__).values(
            token_hash=token_hash(token), customer_id=customer_id, created_by=actor,
            created_at=now, expires_at=expires,
        )
    )  # fmt: skip
    await record_event(
        conn, kind=TELEGRAM_LINK_ISSUED, now=now, actor=actor, customer_id=customer_id,
        expires_at=expires.isoformat(),
    )  # fmt: skip
    return token


async def redeem_link_token(
    conn: AsyncConnection, *, token: str, chat_id: int, username: str | None, now: datetime
) -> Linked | LinkRefusal:
    """Link the chat to the token's customer, once; a refusal when the token is no good."""
    t = TelegramLinkToken.__table__
    hashed = token_hash(token.strip())
    # One conditional UPDATE is the claim: two chats racing for a token cannot both win.
    customer_id = await conn.scalar(
        update(t)
        .where(t.c.token_hash == hashed, t.c.used_at.is_(None), t.c.expires_at > now)
        .values(used_at=now, chat_id=chat_id)
        .returning(t.c.customer_id)
    )
    if customer_id is None:
        row = (await conn.execute(select(t.c.used_at).where(t.c.token_hash == hashed))).first()
        if row is None:
            return LinkRefusal.UNKNOWN
        return LinkRefusal.USED if row.used_at is not None else LinkRefusal.EXPIRED
    contact_id = await _link_contact(conn, customer_id, chat_id, username, now)
    await record_event(
        conn, kind=TELEGRAM_LINKED, now=now, actor=chat_actor(chat_id), customer_id=customer_id,
        chat_id=chat_id, username=username, contact_id=contact_id,
    )  # fmt: skip
    name = await conn.scalar(select(Customer.name).where(Customer.id == customer_id))
    return Linked(customer_id=int(customer_id), customer_name=str(name), contact_id=contact_id)


async def _link_contact(
    conn: AsyncConnection, customer_id: int, chat_id: int, username: str | None, now: datetime
) -> int:
    c = Contact.__table__
    address = str(chat_id)
    existing = await conn.scalar(
        select(c.c.id).where(
            c.c.customer_id == customer_id,
            c.c.channel == ContactChannel.TELEGRAM,
            c.c.address == address,
        )
    )
    if existing is not None:
        # Linking again is the customer asking to hear from us here again.
        await conn.execute(
            update(c).where(c.c.id == existing).values(
                opted_out_at=None, unreachable_at=None, unreachable_reason=None,
                name=username, updated_at=now,
            )
        )  # fmt: skip
        return int(existing)
    contact_id = await conn.scalar(
        insert(c).returning(c.c.id).values(
            customer_id=customer_id, channel=ContactChannel.TELEGRAM, address=address,
            name=username, is_primary=True, created_at=now, updated_at=now,
        )
    )  # fmt: skip
    return int(contact_id)


async def chat_customers(conn: AsyncConnection, chat_id: int) -> list[int]:
    """Ids of the customers this chat is linked to (one person may pay for several)."""
    c = Contact.__table__
    rows = await conn.scalars(
        select(c.c.customer_id)
        .where(c.c.channel == ContactChannel.TELEGRAM, c.c.address == str(chat_id))
        .order_by(c.c.customer_id)
    )
    return list(dict.fromkeys(int(r) for r in rows))
