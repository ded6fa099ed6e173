"""The reminder's buttons, and the message that gives a dispute its reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.telegram.callbacks import Action, InvoiceAction
from sequences.customer_answers import (
    Pressed,
    ask_dispute_reason,
    claim_paid,
    dispute_from_chat,
    promise_in_days,
)
from sequences.ledger import LedgerError

HINT = "Use the buttons under a reminder, or /invoices to see what is open. /help lists the rest."


async def pressed(
    query: CallbackQuery,
    callback_data: InvoiceAction,
    bot: Bot,
    engine: AsyncEngine,
    clock: Callable[[], datetime],
) -> None:
    """One button: record what it means for the chat's own invoice, and say so."""
    if query.message is None:  # too old for Telegram to say where it was pressed
        await query.answer("This button has expired; use /invoices.", show_alert=True)
        return
    chat = query.message.chat.id
    where = Pressed(chat_id=chat, message_id=query.message.message_id)
    invoice_id, now = callback_data.invoice_id, clock()
    try:
        async with engine.begin() as conn:
            match callback_data.action:
                case Action.PAID:
                    invoice = await claim_paid(conn, pressed=where, invoice_id=invoice_id, now=now)
                    reply = f"Thank you! We will check our bank for invoice {invoice.number}."
                case Action.PROMISE:
                    day = await promise_in_days(
                        conn, pressed=where, invoice_id=invoice_id, days=callback_data.days,
                        now=now,
                    )  # fmt: skip
                    reply = f"Thank you: we have noted your promise to pay by {day.isoformat()}."
                case Action.DISPUTE:
                    invoice = await ask_dispute_reason(
                        conn, pressed=where, invoice_id=invoice_id, now=now
                    )
                    reply = (
                        f"What is wrong with invoice {invoice.number}? Please send the reason "
                        "in one message."
                    )
    except LedgerError as refused:
        await query.answer(f"Sorry: {refused}", show_alert=True)
        return
    await query.answer()
    await bot.send_message(chat_id=chat, text=reply)


async def text(message: Message, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
    """The reason of a dispute the chat was asked for; otherwise a hint."""
    try:
        async with engine.begin() as conn:
            opened = await dispute_from_chat(
                conn, chat_id=message.chat.id, reason=message.text or "", now=clock()
            )
    except LedgerError as refused:
        await message.answer(f"Sorry: {refused}.")
        return
    if opened is None:
        await message.answer(HINT)
        return
    _, invoice = opened
    await message.answer(
        f"Thank you. We have opened a dispute on invoice {invoice.number}; our team will "
        "look into it and get back to you. Reminders about it stop meanwhile."
    )


async def anything_else(message: Message) -> None:
    """Photos, stickers, unknown commands: a hint."""
    await message.answer(HINT)


def build_router() -> Router:
    """A fresh router (a router belongs to one dispatcher)."""
    router = Router(name="answers")
    router.callback_query.register(pressed, InvoiceAction.filter())
    router.message.register(text, F.text & ~F.text.startswith("/"))
    router.message.register(anything_else)
    return router
