"""Tasks and dispute escalations posted to the team's Slack channels, once each.

Disputes (their escalation chain, `sequences.escalation`) and escalation tasks go to
`ARSEQ_ESCALATIONS_CHANNEL`; every other task (collector tasks of a sequence, broken
promises, bounces, blocked chats, replies, "I've paid" claims) goes to
`ARSEQ_TASKS_CHANNEL` and mentions its owner. A channel that is not configured leaves
its tasks unposted, in the database; a post Slack refuses is logged and tried again on
the next pass. Posts are paced to one a second per channel.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.slack.client import slack_client
from bot.slack.escalation_blocks import escalation_message
from bot.slack.pacing import ChannelPacer
from bot.slack.task_blocks import task_message
from sequences.tasks import load_tasks
from sequences.team_posts import (
    TeamPost,
    claim_unposted,
    claim_unposted_escalations,
    escalation_of,
    record_escalation_posted,
    record_posted,
    release,
    release_escalation,
)

log = logging.getLogger("arseq.slack")


async def refresh_task(
    client: AsyncWebClient, engine: AsyncEngine, task_id: int, *, now: datetime, settings: Settings
) -> bool:
    """Update a posted task's message in place to show its state; False if not shown."""
    async with engine.connect() as conn:
        found = await load_tasks(conn, [task_id])
    if not found or not (found[0].slack_channel and found[0].slack_ts):
        return False
    task = found[0]
    text, blocks = task_message(task, now=now, managers=settings.managers)
    try:
        await client.chat_update(channel=task.slack_channel, ts=task.slack_ts, text=text,
                                 blocks=blocks)  # fmt: skip
    except SlackClientError as exc:
        log.warning("task %s message not updated: %s", task_id, exc)
        return False
    return True


async def refresh_escalation(client: AsyncWebClient, engine: AsyncEngine, dispute_id: int) -> bool:
    """Update a dispute's message in place (e.g. after `/ar resolve`); False if not shown."""
    async with engine.connect() as conn:
        view = await escalation_of(conn, dispute_id)
    if view is None or not (view.slack_channel and view.slack_ts):
        return False
    text, blocks = escalation_message(view)
    try:
        await client.chat_update(channel=view.slack_channel, ts=view.slack_ts, text=text,
                                 blocks=blocks)  # fmt: skip
    except SlackClientError as exc:
        log.warning("dispute %s message not updated: %s", dispute_id, exc)
        return False
    return True


class TeamPoster:
    """Posts the tasks and disputes waiting for the team; one step per scheduler pass."""

    def __init__(
        self, settings: Settings, client: AsyncWebClient, pacer: ChannelPacer | None = None
    ) -> None:
        self.settings = settings
        self.client = client
        self.pacer = pacer or ChannelPacer()

    @classmethod
    def from_settings(
        cls, settings: Settings, pacer: ChannelPacer | None = None
    ) -> TeamPoster | None:
        """None when Slack is off or neither team channel is set."""
        if settings.slack_enabled and (settings.tasks_channel or settings.escalations_channel):
            return cls(settings, slack_client(settings), pacer)
        return None

    @property
    def escalations_channel(self) -> str | None:
        return self.settings.escalations_channel or self.settings.tasks_channel

    def channel_for(self, post: TeamPost) -> str | None:
        return self.escalations_channel if post.is_escalation else self.settings.tasks_channel

    async def _post(self, channel: str, text: str, blocks: list) -> str | None:
        await self.pacer.wait(channel)
        try:
            answer = await self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False
            )
        except SlackClientError as exc:
            log.warning("not posted to %s: %s", channel, exc)
            return None
        return str(answer["ts"])

    async def step(self, engine: AsyncEngine, now: datetime, worker: str) -> str | None:
        """Post what is waiting; a line saying how many, or None when nothing was."""
        posted = failed = 0
        if (channel := self.escalations_channel) is not None:
            for view in await claim_unposted_escalations(engine, channel):
                text, blocks = escalation_message(view)
                if (ts := await self._post(channel, text, blocks)) is None:
                    await release_escalation(engine, view.id)
                    failed += 1
                else:
                    await record_escalation_posted(engine, view.id, ts)
                    posted += 1
        claimed = await claim_unposted(engine, self.channel_for)
        async with engine.connect() as conn:
            views = {t.id: t for t in await load_tasks(conn, [p.task_id for p, _ in claimed])}
        for post, channel in claimed:
            text, blocks = task_message(
                views[post.task_id], now=now, managers=self.settings.managers
            )
            if (ts := await self._post(channel, text, blocks)) is None:
                await release(engine, post.task_id)
                failed += 1
            else:
                await record_posted(engine, post.task_id, ts)
                posted += 1
        if not posted and not failed:
            return None
        later = f", {failed} not (Slack refused; next pass tries again)" if failed else ""
        return f"{posted} task(s) posted to Slack{later}"
