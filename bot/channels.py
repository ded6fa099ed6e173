"""The customer-facing adapters of a process, built from the configuration.

Each adapter module (email, Telegram, engagement links, reply capture, Slack) adds what
it needs to one `Adapters`: channels for dispatch, HTTP routes for `arseq run`, and
long-running services (Telegram polling, the IMAP reader, Slack's Socket Mode). One
that is not configured adds nothing (reported at start-up by `Settings.startup_report`);
dispatch then falls back to the customer's other channel, or to a task for the collector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.email import add_email
from bot.email_replies import add_replies
from bot.links import add_links
from bot.settings import Settings
from bot.slack.mount import add_slack
from sequences.channels import Channel

log = logging.getLogger("arseq.channels")

RouteAdder = Callable[[web.Application], None]
# A long-running part of the service; it returns once `stop` is set.
Service = Callable[[asyncio.Event], Awaitable[None]]
Closer = Callable[[], Awaitable[None]]


@dataclass
class Adapters:
    """What the configured adapters give the process."""

    channels: dict[str, Channel] = field(default_factory=dict)
    routes: list[RouteAdder] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    closers: list[Closer] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close what the adapters opened (connections, HTTP sessions), newest first."""
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:  # closing one must not keep the others open
                log.exception("closing an adapter failed")


def build_adapters(settings: Settings, engine: AsyncEngine) -> Adapters:
    """Channels, routes and services for what `settings` configures."""
    adapters = Adapters()
    add_links(adapters, settings, engine)
    add_email(adapters, settings, engine)
    if settings.telegram_enabled:  # aiogram takes seconds to import: only when used
        from bot.telegram.mount import add_telegram

        add_telegram(adapters, settings, engine)
    add_replies(adapters, settings, engine)
    add_slack(adapters, settings, engine)
    return adapters
