"""The Telegram channel: a reminder's text with its buttons, sent to the linked chat.

What Telegram answers decides what dispatch does: 429 is temporary with its
retry_after (the message is rescheduled; the loop never sleeps on it), 403 (bot
blocked, user deactivated) and 400 "chat not found" mean the chat is dead, so dispatch
marks the contact unreachable and falls back to email; any other 400 is a problem of
this one message. Network trouble and 5xx are temporary.
"""

from __future__ import annotations

import asyncio

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.telegram.keyboards import KeyboardInvoice, reminder_keyboard
from bot.telegram.limits import Busy, SendLimiter
from sequences.channels import OutgoingMessage, PermanentFailure, SendResult, TemporaryFailure
from storage.models import Customer, Invoice

MAX_TEXT = 4096  # Telegram's limit for one message
DEAD_CHAT_400 = ("chat not found", "user not found", "peer_id_invalid")


class TelegramChannel:
    """Sends OutgoingMessages to Telegram chats (sequences.channels.Channel)."""

    name = "telegram"

    def __init__(
        self,
        bot: Bot,
        engine: AsyncEngine,
        *,
        pay_url: str | None = None,
        limiter: SendLimiter | None = None,
    ) -> None:
        self.bot, self.engine, self.pay_url = bot, engine, pay_url
        self.limiter = limiter or SendLimiter()
        self._prepared: dict[int, list[KeyboardInvoice]] = {}

    async def prepare(self, messages: list[OutgoingMessage]) -> None:
        """Read the buttons' invoices of a whole batch with one query."""
        found = await self._read_invoices({i for m in messages for i in m.invoice_ids})
        for message in messages:
            self._prepared[message.outbox_id] = _of(found, message)

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send the text with its keyboard to the chat id in `message.address`."""
        address = (message.address or "").strip()
        if not address.lstrip("-").isdigit():
            raise PermanentFailure(f"{address!r} is not a Telegram chat id", contact_dead=True)
        invoices = self._prepared.pop(message.outbox_id, None)
        if invoices is None:
            invoices = _of(await self._read_invoices(set(message.invoice_ids)), message)
        keyboard = reminder_keyboard(invoices, self.pay_url)
        try:
            wait = self.limiter.reserve(address)
        except Busy as busy:
            raise TemporaryFailure(str(busy), retry_after=busy.retry_after) from None
        if wait > 0:
            await asyncio.sleep(wait)
        text = message.body if len(message.body) <= MAX_TEXT else message.body[: MAX_TEXT - 1] + "…"
        try:
            sent = await self.bot.send_message(
                chat_id=int(address), text=text, reply_markup=keyboard
            )
        except TelegramRetryAfter as exc:
            self.limiter.hold(address, exc.retry_after)
            raise TemporaryFailure(
                f"Telegram 429: {exc.message}", retry_after=exc.retry_after
            ) from None
        except TelegramForbiddenError as exc:
            raise PermanentFailure(f"Telegram 403: {exc.message}", contact_dead=True) from None
        except TelegramBadRequest as exc:
            dead = any(words in exc.message.lower() for words in DEAD_CHAT_400)
            raise PermanentFailure(f"Telegram 400: {exc.message}", contact_dead=dead) from None
        except TelegramAPIError as exc:  # network, 5xx, a refused token: may work later
            raise TemporaryFailure(f"Telegram: {exc.message}") from None
        return SendResult(provider_message_id=f"{sent.chat.id}:{sent.message_id}")

    async def _read_invoices(self, ids: set[int]) -> dict[int, KeyboardInvoice]:
        """The invoices by id, in the order the buttons show them (due date, number)."""
        if not ids:
            return {}
        i, c = Invoice.__table__, Customer.__table__
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(i.c.id, i.c.number, i.c.open_amount, c.c.external_id)
                .join(c, c.c.id == i.c.customer_id)
                .where(i.c.id.in_(ids))
                .order_by(i.c.due_date, i.c.number)
            )
            return {r.id: KeyboardInvoice(r.id, r.number, r.open_amount, r.external_id)
                    for r in rows}  # fmt: skip


def _of(found: dict[int, KeyboardInvoice], message: OutgoingMessage) -> list[KeyboardInvoice]:
    """The message's invoices among `found`, in `found`'s order."""
    wanted = set(message.invoice_ids)
    return [invoice for invoice_id, invoice in found.items() if invoice_id in wanted]
