"""Tasks and escalations posted to the team's Slack channels, once each.

Escalations go to `ARSEQ_ESCALATIONS_CHANNEL` and mention the managers; every other
task (collector tasks of a sequence, broken promises, bounces, blocked chats, replies,
"I've paid" claims) goes to `ARSEQ_TASKS_CHANNEL` and mentions its owner. A channel
that is not configured leaves its tasks unposted, in the database.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.slack.blocks import Block, context, escape, mention, section
from bot.slack.client import slack_client
from sequences.team_posts import TeamPost, claim_unposted, record_posted, release

log = logging.getLogger("arseq.slack")


def task_blocks(post: TeamPost, managers: list[str]) -> tuple[str, list[Block]]:
    """The message of a task: (notification text, blocks)."""
    who = (
        " ".join(mention(m) for m in managers) or "managers (ARSEQ_MANAGERS not set)"
        if post.is_escalation
        else mention(post.assignee)
    )
    icon = ":rotating_light:" if post.is_escalation else ":clipboard:"
    title = escape(post.title)
    about = " · ".join(
        part for part in (post.customer and escape(post.customer),
                          post.invoice and f"invoice {escape(post.invoice)}") if part
    )  # fmt: skip
    blocks = [section(f"{icon} *{title}*\n{who}")]
    if post.body:
        blocks.append(section(escape(post.body)))
    blocks.append(context(f"{about + ' · ' if about else ''}task #{post.task_id} ({post.kind})"))
    return f"{title} ({who})", blocks


class TeamPoster:
    """Posts the tasks waiting for the team; one step per scheduler pass."""

    def __init__(self, settings: Settings, client: AsyncWebClient) -> None:
        self.settings = settings
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> TeamPoster | None:
        """None when Slack is off or neither team channel is set."""
        if settings.slack_enabled and (settings.tasks_channel or settings.escalations_channel):
            return cls(settings, slack_client(settings))
        return None

    def channel_for(self, post: TeamPost) -> str | None:
        if post.is_escalation:
            return self.settings.escalations_channel or self.settings.tasks_channel
        return self.settings.tasks_channel

    async def step(self, engine: AsyncEngine, now: datetime, worker: str) -> str | None:
        """Post what is waiting; a line saying how many, or None when nothing was."""
        posted = failed = 0
        for post, channel in await claim_unposted(engine, self.channel_for):
            text, blocks = task_blocks(post, self.settings.managers)
            try:
                answer = await self.client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, unfurl_links=False
                )
            except SlackClientError as exc:
                await release(engine, post.task_id)
                log.warning("task %s not posted to %s: %s", post.task_id, channel, exc)
                failed += 1
                continue
            await record_posted(engine, post.task_id, str(answer["ts"]))
            posted += 1
        if not posted and not failed:
            return None
        later = f", {failed} not (Slack refused; next pass tries again)" if failed else ""
        return f"{posted} task(s) posted to Slack{later}"
