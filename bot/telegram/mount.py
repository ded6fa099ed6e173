"""Telegram inside the process: the channel, and updates by webhook or long polling.

With TELEGRAM_WEBHOOK_SECRET set, Telegram posts updates to `POST /telegram/webhook`
(registered under ARSEQ_PUBLIC_URL at start); otherwise a service long-polls
getUpdates. TELEGRAM_API_URL points the Bot at another Bot API server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.telegram.channel import TelegramChannel
from bot.telegram.dispatcher import build_dispatcher
from bot.telegram.polling import polling_service, webhook_service
from bot.telegram.webhook import webhook_route, webhook_url

if TYPE_CHECKING:  # bot.channels imports this module
    from bot.channels import Adapters


def make_bot(token: str, api_url: str | None = None) -> Bot:
    """An aiogram Bot, talking to `api_url` when given (a self-hosted Bot API, tests)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url)) if api_url else None
    return Bot(token=token, session=session)


def add_telegram(adapters: Adapters, settings: Settings, engine: AsyncEngine) -> None:
    """The Telegram channel, and the webhook route or the polling service, when configured."""
    if not settings.telegram_enabled or settings.telegram_bot_token is None:
        return
    bot = make_bot(settings.telegram_bot_token, settings.telegram_api_url)
    dispatcher = build_dispatcher(engine)
    channel = TelegramChannel(bot, engine, pay_url=settings.pay_url)
    adapters.channels[channel.name] = channel
    secret = settings.telegram_webhook_secret
    if secret:
        route = webhook_route(dispatcher, bot, secret)
        adapters.routes.append(lambda app: app.router.add_routes([route]))
        adapters.services.append(
            webhook_service(bot, dispatcher, url=webhook_url(settings.public_url), secret=secret)
        )
    else:
        adapters.services.append(polling_service(dispatcher, bot))
    adapters.closers.append(bot.session.close)
