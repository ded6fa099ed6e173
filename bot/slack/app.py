"""The slack-bolt AsyncApp of ARSeq: one app, the handlers of each feature registered on it.

Each feature module (`commands`, `task_actions`, `escalation_actions`, `builder`, `home`,
...) has a `register(app, ctx)` that adds its listeners; `build_slack_app` calls them in
order. Listeners ack at once and do slow work after (`lazy` or after `ack()`), take
what they need from the `SlackContext` (the engine, the settings, the roles, the clock)
and never from globals. Time is `ctx.now()`, so tests drive it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.slack.client import slack_client
from bot.slack.event_dedupe import SeenEvents

log = logging.getLogger("arseq.slack")

Registrar = Callable[[AsyncApp, "SlackContext"], None]


def _wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class SlackContext:
    """What every Slack listener may use."""

    engine: AsyncEngine
    settings: Settings
    now: Callable[[], datetime] = _wall_clock
    # Filled by features at registration (e.g. the roles resolver, caches).
    extras: dict[str, Any] = field(default_factory=dict)


def registrars() -> list[Registrar]:
    """The feature modules' `register` functions, in registration order."""
    # Imported here: the feature modules import SlackContext from this module.
    from bot.slack import builder, commands, escalation_actions, forewarning, home, task_actions

    return [commands.register, forewarning.register, builder.register, home.register,
            task_actions.register, escalation_actions.register]  # fmt: skip


def build_slack_app(
    settings: Settings,
    engine: AsyncEngine,
    *,
    now: Callable[[], datetime] = _wall_clock,
    process_before_response: bool = False,
) -> tuple[AsyncApp, SlackContext]:
    """The AsyncApp with every feature registered (signature checking always on).

    `process_before_response=True` (tests, FaaS) runs a listener to its end before the
    HTTP answer, so a test's request has finished its work when it returns.
    """
    app = AsyncApp(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        client=slack_client(settings),
        process_before_response=process_before_response,
        request_verification_enabled=True,
    )
    ctx = SlackContext(engine=engine, settings=settings, now=now)

    @app.error
    async def _on_error(error: Exception, body: dict[str, Any]) -> None:
        # Known errors are answered by the listener itself; this is the last net, so a
        # user never sees a stack trace and the log keeps what went wrong.
        log.exception("slack listener failed: %s", type(error).__name__, exc_info=error)

    app.middleware(SeenEvents(now).middleware)
    for register in registrars():
        register(app, ctx)
    return app, ctx
