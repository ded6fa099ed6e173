"""The aiogram Dispatcher: the routers in order, and what handlers get injected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Dispatcher
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.telegram import answers, commands, start


def utc_now() -> datetime:
    """The current instant, aware UTC."""
    return datetime.now(UTC)


def build_dispatcher(engine: AsyncEngine, clock: Callable[[], datetime] = utc_now) -> Dispatcher:
    """A Dispatcher whose handlers receive `engine` and `clock` (workflow data, no globals)."""
    dispatcher = Dispatcher(engine=engine, clock=clock)
    # answers last: its catch-all text handler must not take /start or /invoices.
    for feature in (start, commands, answers):
        dispatcher.include_router(feature.build_router())
    return dispatcher
