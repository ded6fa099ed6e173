"""`/start TOKEN`: link this chat to the customer behind the token from `/ar link`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.telegram_links import LinkRefusal, redeem_link_token

# What Telegram lets through a deep link; anything else cannot be one of our tokens.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

NO_TOKEN = (
    "Hello! This bot sends your invoice reminders. To receive them here, open the link "
    "your accounts team sent you."
)
_ASK = "Please ask your accounts team for a new one."
REFUSED = {
    LinkRefusal.UNKNOWN: f"Sorry, that link is not valid. {_ASK}",
    LinkRefusal.USED: f"That link has already been used. {_ASK}",
    LinkRefusal.EXPIRED: f"That link has expired. {_ASK}",
}


async def start(
    message: Message, command: CommandObject, engine: AsyncEngine, clock: Callable[[], datetime]
) -> None:
    """Redeem the deep-link token, or say politely why not."""
    token = (command.args or "").strip()
    if not token:
        await message.answer(NO_TOKEN)
        return
    if not _TOKEN.match(token):
        await message.answer(REFUSED[LinkRefusal.UNKNOWN])
        return
    username = message.from_user.username if message.from_user else None
    async with engine.begin() as conn:
        result = await redeem_link_token(
            conn, token=token, chat_id=message.chat.id, username=username, now=clock()
        )
    if isinstance(result, LinkRefusal):
        await message.answer(REFUSED[result])
        return
    await message.answer(
        f"Linked: you will get reminders for {result.customer_name} here, with buttons to "
        "pay, promise or dispute. /invoices lists your open invoices, /stop ends messages here."
    )


def build_router() -> Router:
    """A fresh router (a router belongs to one dispatcher)."""
    router = Router(name="start")
    router.message.register(start, CommandStart())
    return router
