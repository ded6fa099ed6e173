"""`arseq digest [--now T] [--force]` and the digest step of `arseq tick`."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from typing import TextIO

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.commands.common import ready_engine
from bot.errors import CliError
from bot.settings import Settings
from bot.slack.client import close_slack_session, slack_client
from bot.slack.digest_blocks import blocks_as_text, digest_blocks
from bot.slack.digest_post import DigestOutcome, post_daily_digest
from sequences.digest import digest_day, gather_digest


def slack_problem(exc: SlackClientError) -> str:
    """A Slack failure as a short reason."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", exc))
    return str(exc) or type(exc).__name__


def run_digest(
    settings: Settings, now: datetime, *, force: bool, out: TextIO | None = None
) -> None:
    """Post the digest of `now`'s local day; with Slack off, print it here instead."""
    asyncio.run(_digest(settings, now, force=force, out=out or sys.stdout))


async def _digest(settings: Settings, now: datetime, *, force: bool, out: TextIO) -> None:
    day = now.astimezone(settings.zone).date()
    async with ready_engine(settings) as engine:
        if not (settings.slack_enabled and settings.digest_channel):
            data = await gather_digest(engine, day=day, now=now)
            print("Slack is off (SLACK_BOT_TOKEN or ARSEQ_DIGEST_CHANNEL not set): "
                  "the digest is printed, not posted.\n", file=out)  # fmt: skip
            print(blocks_as_text(digest_blocks(data)), file=out)
            return
        try:
            outcome = await post_daily_digest(
                engine, slack_client(settings), channel=settings.digest_channel, day=day,
                now=now, worker=f"digest-{os.getpid()}", force=force,
            )  # fmt: skip
        except SlackClientError as exc:
            raise CliError(f"Slack did not take the digest: {slack_problem(exc)}") from None
        finally:
            await close_slack_session()
    print(outcome_line(outcome, settings.digest_channel), file=out)


def outcome_line(outcome: DigestOutcome, channel: str) -> str:
    if outcome.posted:
        chart = (
            f" (the chart was not uploaded: {outcome.chart_error})" if outcome.chart_error else ""
        )
        return f"digest of {outcome.day} posted to {channel}{chart}"
    return f"{outcome.reason}; --force posts another"


class DigestClock:
    """The digest step of each tick: post once the local digest time has passed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = slack_client(settings)
        self.posted: set[object] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> DigestClock | None:
        """None when Slack or the digest channel is not configured."""
        if settings.slack_enabled and settings.digest_channel:
            return cls(settings)
        return None

    async def step(self, engine: AsyncEngine, now: datetime, worker: str) -> str | None:
        """Post the digest if it is due and not yet posted; a line saying so, or None."""
        day = digest_day(now, self.settings.zone, self.settings.digest_time)
        if day is None or day in self.posted:
            return None
        channel = str(self.settings.digest_channel)
        try:
            outcome = await post_daily_digest(
                engine, self.client, channel=channel, day=day, now=now, worker=worker,
                chart_later=True,
            )  # fmt: skip
        except SlackClientError as exc:
            return f"digest of {day} not posted ({slack_problem(exc)}); next tick tries again"
        self.posted.add(day)  # posted here or by another worker: nothing more to do today
        return outcome_line(outcome, channel) if outcome.posted else None
