"""Wiring of the running service: database, channels, the clock, the HTTP app; start and stop.

`arseq run` serves the whole HTTP app; `arseq worker` serves nothing, or only `/healthz`
when given a health port.

SIGTERM (or SIGINT) stops the clock: no new batch is claimed, the sends already
started finish and are recorded, the rows claimed but not started are released for
another worker. Then the HTTP app stops, the channels close and `serve` returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import Adapters, build_adapters
from bot.clock import Clock, dispatch_policy, engine_config, start_scheduler, worker_name
from bot.commands.common import ready_engine
from bot.settings import Settings
from bot.slack.client import close_slack_session
from bot.slack.digest_post import finish_chart_uploads
from bot.slack.pass_steps import slack_steps
from bot.web import build_app

log = logging.getLogger("arseq.runtime")

AdapterFactory = Callable[[Settings, AsyncEngine], Adapters]


async def serve(
    settings: Settings,
    *,
    http_port: int | None,
    health_port: int | None = None,
    adapters: AdapterFactory = build_adapters,
    stop: asyncio.Event | None = None,
    ready: Callable[[Clock, int | None], Awaitable[None]] | None = None,
) -> None:
    """Run the clock, the adapters' services, and the HTTP app unless `http_port` is None,
    until SIGTERM or `stop`. Without the app, `health_port` serves `/healthz` alone."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with ready_engine(settings) as engine:
        parts = adapters(settings, engine)
        role = "run" if http_port is not None else "worker"
        clock = Clock(engine, parts.channels, engine_config(settings), settings.tick_every,
                      worker_name(role), steps=slack_steps(settings),
                      policy=dispatch_policy(settings))  # fmt: skip
        runner: web.AppRunner | None = None
        port = http_port if http_port is not None else health_port
        if port is not None:
            app = build_app(engine, clock)
            for add in parts.routes if http_port is not None else ():
                add(app)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host="0.0.0.0", port=port)
            await site.start()
            port = runner.addresses[0][1] if runner.addresses else port
            log.info("listening on port %s", port)
        scheduler = start_scheduler(clock)
        if http_port is None:
            front = "no HTTP front" if port is None else f"only /healthz on port {port}"
            log.info("worker %s: a pass every %ss, %s", clock.worker,
                     settings.tick_every.total_seconds(), front)  # fmt: skip
        services = [asyncio.create_task(run(stop)) for run in parts.services]
        try:
            if ready is not None:
                await ready(clock, port)
            await stop.wait()
            log.info("stopping: no new passes, finishing the one in flight")
        finally:
            stop.set()  # services watch it too
            await clock.stop(scheduler)
            for done in await asyncio.gather(*services, return_exceptions=True):
                if isinstance(done, BaseException):
                    log.error("a service ended with an error: %r", done)
            if runner is not None:
                await runner.cleanup()
            await finish_chart_uploads()
            await parts.aclose()
            await close_slack_session()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
