"""The real aiogram Bot and Dispatcher against the fake Bot API, at a fixed instant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.telegram.dispatcher import build_dispatcher
from bot.telegram.mount import make_bot
from tests.fakes.telegram_api import FakeTelegramApi
from tests.sequences.engine_helpers import utc

TOKEN = "123456:TEST-token-abcdefghijklmnop"
NOW = utc(2026, 2, 10, 10)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


@pytest.fixture
async def bot(fake_telegram: FakeTelegramApi) -> AsyncIterator[Bot]:
    bot = make_bot(TOKEN, fake_telegram.base_url)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
def dispatcher(engine: AsyncEngine) -> Dispatcher:
    return build_dispatcher(engine, clock=lambda: NOW)


class Chat:
    """Feeds updates from one chat to the dispatcher, as polling or the webhook would."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, fake: FakeTelegramApi) -> None:
        self.dispatcher, self.bot, self.fake = dispatcher, bot, fake

    async def feed(self, update: dict[str, Any]) -> None:
        model = Update.model_validate({"update_id": 1, **update}, context={"bot": self.bot})
        await self.dispatcher.feed_update(self.bot, model)

    def replies(self, chat_id: int) -> list[str]:
        return [m.text for m in self.fake.messages_to(chat_id)]


@pytest.fixture
def chat(dispatcher: Dispatcher, bot: Bot, fake_telegram: FakeTelegramApi) -> Chat:
    return Chat(dispatcher, bot, fake_telegram)
