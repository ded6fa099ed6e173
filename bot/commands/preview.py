"""`arseq preview SEQUENCE CUSTOMER`: the timeline and texts a customer would get; nothing sent."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.commands.common import ready_engine
from bot.errors import CliError
from bot.settings import Settings
from sequences.lookup import CustomerLookupError
from sequences.preview_report import Found, PreviewError, load_preview, preview_lines
from sequences.send_windows import WindowError
from sequences.templates import TemplateError


def preview(settings: Settings, sequence_name: str, customer_query: str, *, now: datetime) -> None:
    """Print the timeline of `sequence_name` for one customer, with every text rendered."""
    found = asyncio.run(_load(settings, sequence_name, customer_query, now))
    try:
        lines = preview_lines(found, now=now, pay_url=settings.pay_url)
    except (TemplateError, WindowError, ValueError) as exc:
        raise CliError(f"{found.sequence.name}: {exc}") from None
    print("\n".join(lines))


async def _load(settings: Settings, name: str, query: str, now: datetime) -> Found:
    async with ready_engine(settings) as engine, engine.connect() as conn:
        try:
            return await load_preview(conn, name, query, now=now)
        except (PreviewError, CustomerLookupError) as exc:
            raise CliError(str(exc)) from None
