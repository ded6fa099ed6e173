"""/invoices (the chat's own open invoices), /stop (no more Telegram), /help."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.customer_answers import invoices_of_chat, opt_out_chat
from sequences.telegram_links import chat_customers
from sequences.templates import money

HELP = (
    "This bot sends your invoice reminders. Use the buttons under a reminder to pay, say "
    "you have paid, promise a date or dispute an invoice.\n"
    "/invoices - your open invoices\n/stop - no more messages here\n/help - this text"
)
NOT_LINKED = "This chat is not linked to an account yet: open the link your accounts team sent you."


async def help_(message: Message) -> None:
    """What the bot does and its commands."""
    await message.answer(HELP)


async def invoices(message: Message, engine: AsyncEngine) -> None:
    """The open invoices of the customers this chat is linked to."""
    async with engine.connect() as conn:
        found = await invoices_of_chat(conn, message.chat.id)
    if not found:
        await message.answer("You have no open invoices. Thank you!")
        return
    lines = [
        f"{i.number}: {money(i.open_amount, i.currency)} due {i.due_date.isoformat()}"
        + (" (disputed)" if i.disputed else "")
        for i in found
    ]
    await message.answer("Your open invoices:\n" + "\n".join(lines))


async def stop(message: Message, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
    """Opt this chat out of Telegram reminders."""
    async with engine.begin() as conn:
        done = await opt_out_chat(conn, chat_id=message.chat.id, now=clock())
    if done:
        await message.answer(
            "Done: no more reminders here. Your accounts team may still write by email."
        )
    else:
        await message.answer("You will not get reminders here." if await _linked(engine, message)
                             else NOT_LINKED)  # fmt: skip


async def _linked(engine: AsyncEngine, message: Message) -> bool:
    async with engine.connect() as conn:
        return bool(await chat_customers(conn, message.chat.id))


def build_router() -> Router:
    """A fresh router (a router belongs to one dispatcher)."""
    router = Router(name="commands")
    router.message.register(help_, Command("help"))
    router.message.register(invoices, Command("invoices"))
    router.message.register(stop, Command("stop"))
    return router
