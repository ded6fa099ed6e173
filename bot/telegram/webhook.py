"""`POST /telegram/webhook`: updates pushed by Telegram, checked by their secret token header."""

from __future__ import annotations

import hmac
import logging

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

log = logging.getLogger("arseq.telegram")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_route(dispatcher: Dispatcher, bot: Bot, secret: str) -> web.RouteDef:
    """The route feeding each update to the dispatcher; 401 without the right secret."""
    expected = secret.encode()

    async def handle(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"ok": False, "error": "bad secret token"}, status=401)
        try:
            update = Update.model_validate(await request.json(), context={"bot": bot})
        except (ValueError, ValidationError):
            return web.json_response({"ok": False, "error": "not a Telegram update"}, status=400)
        # Handled before answering: Telegram redelivers what was not acknowledged.
        await dispatcher.feed_update(bot, update)
        return web.json_response({"ok": True})

    return web.post(WEBHOOK_PATH, handle)


def webhook_url(public_url: str) -> str:
    """Where Telegram should post updates: under ARSEQ_PUBLIC_URL."""
    return public_url.rstrip("/") + WEBHOOK_PATH
