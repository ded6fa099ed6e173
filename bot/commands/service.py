"""`arseq run` and `arseq worker`: the service in the foreground until SIGTERM or Ctrl-C.

On a SQLite file only one of them runs at a time (`bot.writer_lock`): a second is
refused with one line before it logs anything.
"""

from __future__ import annotations

import asyncio
import logging

from bot.logs import setup_logging
from bot.runtime import serve
from bot.settings import Settings
from bot.writer_lock import single_writer

log = logging.getLogger("arseq")


def run_service(
    settings: Settings, *, http_port: int | None, health_port: int | None = None
) -> None:
    """Report what is off, then run the clock, and the HTTP app unless `http_port` is None
    (then `/healthz` alone on `health_port`, if given)."""
    with single_writer(settings.database_url):
        _run(settings, http_port, health_port)


def _run(settings: Settings, http_port: int | None, health_port: int | None) -> None:
    setup_logging()  # JSON lines unless stderr is a terminal
    for line in settings.startup_report():
        log.info(line)
    asyncio.run(_serve(settings, http_port, health_port))


async def _serve(settings: Settings, http_port: int | None, health_port: int | None) -> None:
    await serve(settings, http_port=http_port, health_port=health_port)
