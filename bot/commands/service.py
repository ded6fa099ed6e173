"""`arseq run`: the service in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.runtime import serve
from bot.settings import Settings

log = logging.getLogger("arseq")


def run_service(settings: Settings, *, http_port: int) -> None:
    """Report what is off, then run the clock and the HTTP app."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for line in settings.startup_report():
        log.info(line)
    asyncio.run(_serve(settings, http_port))


async def _serve(settings: Settings, http_port: int) -> None:
    await serve(settings, http_port=http_port)
