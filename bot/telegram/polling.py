"""The two ways updates arrive: long polling (a service), or a webhook registered at start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError

log = logging.getLogger("arseq.telegram")

POLL_TIMEOUT_S = 10
Service = Callable[[asyncio.Event], Awaitable[None]]


def polling_service(dispatcher: Dispatcher, bot: Bot, *, timeout: int = POLL_TIMEOUT_S) -> Service:
    """A service that long-polls getUpdates into `dispatcher` until `stop` is set."""

    async def poll(stop: asyncio.Event) -> None:
        # A webhook left from an earlier setup would make getUpdates fail with 409.
        try:
            await bot.delete_webhook(drop_pending_updates=False)
        except TelegramAPIError as exc:
            log.warning("Telegram: could not remove an old webhook: %s", exc)
        started = asyncio.Event()
        dispatcher.startup.register(started.set)
        polling = asyncio.create_task(
            dispatcher.start_polling(
                bot, polling_timeout=timeout, handle_signals=False, close_bot_session=False
            )
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not polling.done():
            if started.is_set():
                await dispatcher.stop_polling()
            else:  # stopped before polling began: nothing of it to wind down
                polling.cancel()
        stopping.cancel()
        await asyncio.gather(polling, return_exceptions=True)

    return poll


def webhook_service(bot: Bot, dispatcher: Dispatcher, *, url: str, secret: str) -> Service:
    """A service that points Telegram at our webhook once at start, then waits for `stop`."""

    async def register(stop: asyncio.Event) -> None:
        try:
            await bot.set_webhook(
                url=url, secret_token=secret,
                allowed_updates=dispatcher.resolve_used_update_types(),
            )  # fmt: skip
            log.info("Telegram: webhook set to %s", url)
        except TelegramAPIError as exc:
            log.error("Telegram: could not set the webhook to %s: %s", url, exc)
        await stop.wait()

    return register
