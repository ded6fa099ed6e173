"""Wiring of the running service: database, channels, the clock, the HTTP app; start and stop.

SIGTERM (or SIGINT) stops the clock, lets the pass in flight finish, stops the HTTP
app, closes the channels and returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress

from aiohttp import web

from bot.clock import Clock, engine_config, start_scheduler, worker_name
from bot.commands.common import ready_engine
from bot.settings import Settings
from bot.slack.pass_steps import slack_steps
from bot.web import build_app
from sequences.channels import Channel

log = logging.getLogger("arseq.runtime")

RouteAdder = Callable[[web.Application], None]


async def serve(
    settings: Settings,
    channels: Mapping[str, Channel],
    *,
    http_port: int | None,
    routes: list[RouteAdder] | None = None,
    stop: asyncio.Event | None = None,
    ready: Callable[[Clock, int | None], Awaitable[None]] | None = None,
) -> None:
    """Run the clock, and the HTTP app unless `http_port` is None, until SIGTERM or `stop`."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with ready_engine(settings) as engine:
        role = "run" if http_port is not None else "worker"
        clock = Clock(engine, channels, engine_config(settings), settings.tick_every,
                      worker_name(role), steps=slack_steps(settings))  # fmt: skip
        runner: web.AppRunner | None = None
        port = None
        if http_port is not None:
            app = build_app(engine, clock)
            for add in routes or []:
                add(app)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host="0.0.0.0", port=http_port)
            await site.start()
            port = runner.addresses[0][1] if runner.addresses else http_port
            log.info("listening on port %s", port)
        scheduler = start_scheduler(clock)
        try:
            if ready is not None:
                await ready(clock, port)
            await stop.wait()
            log.info("stopping: no new passes, finishing the one in flight")
        finally:
            await clock.stop(scheduler)
            if runner is not None:
                await runner.cleanup()
            for channel in channels.values():
                close = getattr(channel, "aclose", None)
                if close is not None:
                    await close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
