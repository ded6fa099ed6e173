"""The dispute chains at work in Slack: after each pass, each due chain runs one step.

`sequences.escalation.execute` decides (is the dispute still unacknowledged, which step
is due); the outcome is stored under the chain's guard, so of two workers (or a pass
run twice) only one carries a step out. Then the step's people are mentioned in the
dispute's thread and the message shows the level reached. A mention Slack refuses is
rewound, so the next pass tries it again.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from bot.slack.escalation_blocks import escalation_reply, targets_of
from bot.slack.pacing import ChannelPacer
from bot.slack.team_posts import refresh_escalation
from sequences.escalation import apply_outcome, execute, rewind
from sequences.team_posts import EscalationView, due_chains

log = logging.getLogger("arseq.slack")


class ChainRunner:
    """Runs the due escalation chains; one step per scheduler pass."""

    def __init__(self, settings: Settings, client: AsyncWebClient, pacer: ChannelPacer) -> None:
        self.settings = settings
        self.client = client
        self.pacer = pacer

    async def step(self, engine: AsyncEngine, now: datetime, worker: str) -> str | None:
        """Run each due chain once; a line saying how many escalated, or None."""
        async with engine.connect() as conn:
            due = await due_chains(conn, now=now)
        escalated = 0
        for view in due:
            escalated += await self._run(engine, view, now)
        return f"{escalated} dispute(s) escalated" if escalated else None

    async def _run(self, engine: AsyncEngine, view: EscalationView, now: datetime) -> int:
        outcome = execute(view.chain, level=view.level, dispute_status=view.dispute_status, now=now)
        async with engine.begin() as conn:
            if not await apply_outcome(conn, escalation_id=view.id, guard=view.guard,
                                       outcome=outcome):  # fmt: skip
                return 0  # another worker ran it
        mentions = []
        if outcome.run is not None:
            mentions = targets_of(
                view.chain[outcome.run].targets, managers=self.settings.managers,
                collectors=self.settings.collectors, owner=view.owner,
            )  # fmt: skip
        if mentions and view.slack_channel and view.slack_ts:
            await self.pacer.wait(view.slack_channel)
            try:
                await self.client.chat_postMessage(
                    channel=view.slack_channel, thread_ts=view.slack_ts,
                    text=escalation_reply(view, outcome.run or 0, mentions),
                )  # fmt: skip
            except SlackClientError as exc:
                log.warning(
                    "dispute %s not escalated (next pass retries): %s", view.dispute_id, exc
                )
                async with engine.begin() as conn:
                    await rewind(conn, escalation_id=view.id, guard=view.guard + 1,
                                 level=view.level, now=now)  # fmt: skip
                return 0
        await refresh_escalation(self.client, engine, view.dispute_id)
        return 1 if outcome.run is not None else 0
