"""Tasks kept alive in Slack: a snoozed task comes back, an overdue one is re-pinged daily.

After each pass: tasks whose snooze ended are open again (their message updated, the
assignee mentioned in the thread); and once a day, at ARSEQ_DIGEST_TIME in the team's
time zone, each open task older than a day gets a thread reply mentioning its assignee.
The day is claimed in `daily_claims`, like the digest, so several workers ping once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.slack.blocks import escape, mention
from bot.slack.pacing import ChannelPacer
from bot.slack.team_posts import refresh_task
from sequences.digest import digest_day
from sequences.tasks import (
    TaskView,
    claim_repings,
    finish_repings,
    load_tasks,
    mark_pinged,
    overdue_tasks,
    wake_snoozed,
)

log = logging.getLogger("arseq.slack")


class TaskUpkeep:
    """Wakes snoozed tasks and re-pings overdue ones; one step per scheduler pass."""

    def __init__(self, settings: Settings, client: AsyncWebClient, pacer: ChannelPacer) -> None:
        self.settings = settings
        self.client = client
        self.pacer = pacer

    async def _reply(self, task: TaskView, text: str) -> bool:
        if not (task.slack_channel and task.slack_ts):
            return False
        await self.pacer.wait(task.slack_channel)
        try:
            await self.client.chat_postMessage(channel=task.slack_channel,
                                               thread_ts=task.slack_ts, text=text)  # fmt: skip
        except SlackClientError as exc:
            log.warning("task %s not pinged: %s", task.id, exc)
            return False
        return True

    async def step(self, engine: AsyncEngine, now: datetime, worker: str) -> str | None:
        """Wake what is due, ping what is overdue today; a line, or None when nothing."""
        async with engine.begin() as conn:
            woken = await load_tasks(conn, await wake_snoozed(conn, now=now))
        for task in woken:
            await refresh_task(self.client, engine, task.id, now=now, settings=self.settings)
            await self._reply(task, f"{mention(task.assignee)} back from snooze: "
                                    f"{escape(task.title)}")  # fmt: skip
        pinged = await self._repings(engine, now, worker)
        parts = [f"{len(woken)} snoozed task(s) back"] if woken else []
        parts += [f"{pinged} overdue task(s) re-pinged"] if pinged else []
        return "; ".join(parts) or None

    async def _repings(self, engine: AsyncEngine, now: datetime, worker: str) -> int:
        day = digest_day(now, self.settings.zone, self.settings.digest_time)
        if day is None or not await claim_repings(engine, day=day, worker=worker, now=now):
            return 0
        async with engine.connect() as conn:
            overdue = await overdue_tasks(conn, now=now)
        pinged = 0
        for task in overdue:
            days = (now - task.due_at).days
            text = (f"{mention(task.assignee)} still open after {days} day(s): "
                    f"{escape(task.title)}")  # fmt: skip
            if await self._reply(task, text):
                async with engine.begin() as conn:
                    await mark_pinged(conn, task_id=task.id, now=now)
                pinged += 1
        await finish_repings(engine, day=day, now=now)
        return pinged
