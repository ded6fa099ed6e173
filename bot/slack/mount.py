"""Slack inside `arseq run`: `/slack/events` on the service's HTTP app, or Socket Mode.

With `SLACK_APP_TOKEN` set the app connects over Socket Mode (no public URL needed);
otherwise Slack posts commands, interactivity and events to `POST /slack/events`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.slack.app import build_slack_app

if TYPE_CHECKING:  # bot.channels imports this module
    from bot.channels import Adapters

log = logging.getLogger("arseq.slack")

EVENTS_PATH = "/slack/events"


def events_route(app: AsyncApp) -> web.RouteDef:
    """`POST /slack/events` handing each request to bolt (which checks the signature)."""

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    return web.post(EVENTS_PATH, handle)


def add_slack(adapters: Adapters, settings: Settings, engine: AsyncEngine) -> None:
    """The Slack app over HTTP or Socket Mode, when Slack is configured."""
    if not settings.slack_enabled:
        return
    app, _ = build_slack_app(settings, engine)
    if settings.slack_app_token:
        handler = AsyncSocketModeHandler(app, settings.slack_app_token)

        async def socket_mode(stop: asyncio.Event) -> None:
            await handler.connect_async()
            log.info("Slack connected over Socket Mode")
            try:
                await stop.wait()
            finally:
                await handler.close_async()

        adapters.services.append(socket_mode)
        return
    adapters.routes.append(lambda web_app: web_app.router.add_routes([events_route(app)]))
