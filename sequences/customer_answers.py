"""What a customer's answer from a linked chat does: paid, promise, dispute, stop.

Every answer is scoped to the customers the chat is linked to: an invoice of anyone
else is refused with `NotYourInvoice` before anything is written. Each button press is
also a `TELEGRAM_PRESSED` event (send-time learning reads them), tied to the message it
was pressed on when that message is known.

A dispute takes two steps: the button asks for the reason (an event records that the
chat owes one), and the chat's next message is the reason. Keeping that in the audit
trail rather than in process memory lets it survive a restart, and lets any worker
behind the webhook take the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.disputes import open_dispute
from sequences.engagement_links import TELEGRAM_PRESSED
from sequences.ledger import LedgerError, add_task, opt_out, record_event
from sequences.lookup import open_invoices
from sequences.planner import InvoiceFacts
from sequences.promises import record_promise
from sequences.telegram_links import chat_actor, chat_customers
from storage.models import (
    Contact,
    ContactChannel,
    Customer,
    Dispute,
    DisputeStatus,
    Event,
    Invoice,
    InvoiceStatus,
    OutboxMessage,
)

PROMISE_DAYS = (3, 7, 14)
DISPUTE_ASKED = "telegram_dispute_asked"
DISPUTE_REASON_GIVEN = "telegram_dispute_reason_given"
# A reason sent later than this is an ordinary message again.
DISPUTE_ASK_TTL = timedelta(days=1)
MAX_REASON = 2000
PAID_CLAIM = "payment_claimed"


class AnswerRefused(LedgerError):
    """An answer the chat may not give, with the reason to show the customer."""


class NotYourInvoice(AnswerRefused):
    """The invoice is not one of the chat's customers'."""


@dataclass(frozen=True)
class Pressed:
    """Where a button was pressed: the chat, and the bot's message carrying it."""

    chat_id: int
    message_id: int | None = None


async def _owned_invoice(conn: AsyncConnection, chat_id: int, invoice_id: int) -> Row:
    customers = await chat_customers(conn, chat_id)
    if not customers:
        raise AnswerRefused("this chat is not linked to an account yet")
    i = Invoice.__table__
    row = (
        await conn.execute(select(i).where(i.c.id == invoice_id, i.c.customer_id.in_(customers)))
    ).first()
    if row is None:
        raise NotYourInvoice("that invoice is not one of yours")
    return row


async def _outbox_of(conn: AsyncConnection, pressed: Pressed) -> int | None:
    if pressed.message_id is None:
        return None
    o = OutboxMessage.__table__
    provider_id = f"{pressed.chat_id}:{pressed.message_id}"
    return await conn.scalar(select(o.c.id).where(o.c.provider_message_id == provider_id))


async def _pressed(
    conn: AsyncConnection, invoice: Row, pressed: Pressed, button: str, now: datetime
) -> None:
    await record_event(
        conn, kind=TELEGRAM_PRESSED, now=now, actor=chat_actor(pressed.chat_id),
        customer_id=invoice.customer_id, invoice_id=invoice.id,
        outbox_id=await _outbox_of(conn, pressed), channel="telegram", button=button,
        chat_id=pressed.chat_id,
    )  # fmt: skip


def _open(invoice: Row) -> None:
    if invoice.status != InvoiceStatus.OPEN or invoice.open_amount <= 0:
        raise AnswerRefused(f"invoice {invoice.number} is already settled")


async def claim_paid(
    conn: AsyncConnection, *, pressed: Pressed, invoice_id: int, now: datetime
) -> Row:
    """The I've-paid button: a verify task for the owner, once per invoice per day."""
    invoice = await _owned_invoice(conn, pressed.chat_id, invoice_id)
    _open(invoice)
    await _pressed(conn, invoice, pressed, "paid", now)
    created = await add_task(
        conn, kind="verify_payment", customer_id=invoice.customer_id, invoice_id=invoice.id,
        now=now, key=f"paid-claim:{invoice.id}:{now.date()}",
        title=f"Customer says invoice {invoice.number} is paid: check the bank",
        body=f"Pressed \"I've paid\" in Telegram chat {pressed.chat_id}",
    )  # fmt: skip
    if created:
        await record_event(
            conn, kind=PAID_CLAIM, now=now, actor=chat_actor(pressed.chat_id),
            customer_id=invoice.customer_id, invoice_id=invoice.id, channel="telegram",
        )  # fmt: skip
    return invoice


async def promise_in_days(
    conn: AsyncConnection, *, pressed: Pressed, invoice_id: int, days: int, now: datetime
) -> date:
    """Promise to pay the invoice in `days` (3, 7 or 14) of the customer's calendar."""
    if days not in PROMISE_DAYS:
        raise AnswerRefused(f"a promise is for {', '.join(map(str, PROMISE_DAYS))} days")
    invoice = await _owned_invoice(conn, pressed.chat_id, invoice_id)
    _open(invoice)
    zone = await conn.scalar(select(Customer.timezone).where(Customer.id == invoice.customer_id))
    promised = now.astimezone(_zone(zone)).date() + timedelta(days=days)
    await _pressed(conn, invoice, pressed, f"promise_{days}", now)
    await record_promise(
        conn, invoice_id=invoice.id, promised_date=promised, amount=None, source="telegram",
        actor=chat_actor(pressed.chat_id), now=now,
    )  # fmt: skip
    return promised


async def ask_dispute_reason(
    conn: AsyncConnection, *, pressed: Pressed, invoice_id: int, now: datetime
) -> Row:
    """The Dispute button: the chat's next message will be the reason; the invoice."""
    invoice = await _owned_invoice(conn, pressed.chat_id, invoice_id)
    d = Dispute.__table__
    if await conn.scalar(
        select(d.c.id).where(d.c.invoice_id == invoice.id, d.c.status != DisputeStatus.RESOLVED)
    ):
        raise AnswerRefused(f"invoice {invoice.number} is already disputed; we are on it")
    await _pressed(conn, invoice, pressed, "dispute", now)
    await record_event(
        conn, kind=DISPUTE_ASKED, now=now, actor=chat_actor(pressed.chat_id),
        customer_id=invoice.customer_id, invoice_id=invoice.id, chat_id=pressed.chat_id,
    )  # fmt: skip
    return invoice


async def pending_dispute(conn: AsyncConnection, *, chat_id: int, now: datetime) -> int | None:
    """The invoice whose dispute reason this chat owes, if it was asked recently."""
    customers = await chat_customers(conn, chat_id)
    if not customers:
        return None
    ev = Event.__table__
    last = (
        await conn.execute(
            select(ev.c.kind, ev.c.invoice_id)
            .where(
                ev.c.customer_id.in_(customers),
                ev.c.kind.in_([DISPUTE_ASKED, DISPUTE_REASON_GIVEN]),
                ev.c.at > now - DISPUTE_ASK_TTL,
                ev.c.data["chat_id"].as_integer() == chat_id,
            )
            .order_by(ev.c.at.desc(), ev.c.id.desc())
            .limit(1)
        )
    ).first()
    return last.invoice_id if last is not None and last.kind == DISPUTE_ASKED else None


async def dispute_from_chat(
    conn: AsyncConnection, *, chat_id: int, reason: str, now: datetime
) -> tuple[int, Row] | None:
    """Open the dispute the chat was asked a reason for; None when none is pending."""
    invoice_id = await pending_dispute(conn, chat_id=chat_id, now=now)
    if invoice_id is None:
        return None
    reason = reason.strip()
    if not reason:
        raise AnswerRefused("please write the reason in a few words")
    if len(reason) > MAX_REASON:
        raise AnswerRefused(f"please keep the reason under {MAX_REASON} characters")
    invoice = await _owned_invoice(conn, chat_id, invoice_id)
    dispute_id = await open_dispute(
        conn, invoice_id=invoice.id, reason=reason, actor=chat_actor(chat_id), now=now
    )
    await record_event(
        conn, kind=DISPUTE_REASON_GIVEN, now=now, actor=chat_actor(chat_id),
        customer_id=invoice.customer_id, invoice_id=invoice.id, chat_id=chat_id,
        dispute_id=dispute_id,
    )  # fmt: skip
    return dispute_id, invoice


async def invoices_of_chat(conn: AsyncConnection, chat_id: int) -> list[InvoiceFacts]:
    """The open invoices of the chat's customers, oldest due first; nobody else's."""
    found: list[InvoiceFacts] = []
    for customer_id in await chat_customers(conn, chat_id):
        found += await open_invoices(conn, customer_id)
    return sorted(found, key=lambda i: (i.due_date, i.number))


async def opt_out_chat(conn: AsyncConnection, *, chat_id: int, now: datetime) -> int:
    """/stop: no more Telegram messages to this chat; how many contacts were opted out."""
    c = Contact.__table__
    ids = await conn.scalars(
        select(c.c.id).where(c.c.channel == ContactChannel.TELEGRAM, c.c.address == str(chat_id))
    )
    done = 0
    for contact_id in list(ids):
        done += await opt_out(conn, contact_id=contact_id, actor=chat_actor(chat_id), now=now)
    return done


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
