"""Posting the daily digest: claim the day, build it, post the blocks, upload the chart.

Exactly once per local day however many workers tick: the claim is a unique row
(`sequences.digest.claim_digest`). `force` posts again for a day already posted (and
still claims it when nobody had, so a later tick does not post a third time). A message
Slack refuses gives the claim back, so the next tick tries again; once the message is
posted the day is done, and a chart that fails to upload is reported, not retried
(retrying would post the whole digest twice). The clock does not wait for the chart
(`chart_later`): it is drawn and uploaded while the next steps run, and a process that
stops waits for it first (`finish_chart_uploads`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.slack.aging_chart import draw_aging_chart
from bot.slack.digest_blocks import digest_blocks, digest_text
from sequences.digest import (
    DigestData,
    claim_digest,
    digest_done,
    gather_digest,
    release_digest,
)

log = logging.getLogger(__name__)
# Chart uploads still running (`chart_later`); a reference keeps each task alive.
_uploads: set[asyncio.Task[None]] = set()


@dataclass(frozen=True)
class DigestOutcome:
    """What one attempt did: posted (with the message ts) or why not."""

    day: date
    posted: bool
    ts: str | None = None
    reason: str | None = None
    chart_error: str | None = None
    chart_later: bool = False


async def send_digest(client: AsyncWebClient, channel: str, data: DigestData) -> str:
    """Post the digest message to `channel`; its ts."""
    posted = await client.chat_postMessage(
        channel=channel, text=digest_text(data), blocks=digest_blocks(data), unfurl_links=False
    )
    return str(posted["ts"])


async def upload_chart(client: AsyncWebClient, channel: str, data: DigestData) -> str | None:
    """Upload the aging chart to `channel` (files_upload_v2); why it failed, or None."""
    png = await draw_aging_chart(data.report["as_of"], data.report["currencies"])
    try:
        await client.files_upload_v2(
            channel=channel,
            content=png,
            filename=f"aging-{data.day}.png",
            title=f"Aging as of {data.day}",
            alt_txt="Receivables by days past due",
        )
    except SlackApiError as exc:
        return str(exc.response.get("error", exc))
    except SlackClientError as exc:
        return str(exc) or type(exc).__name__
    return None


async def post_daily_digest(
    engine: AsyncEngine,
    client: AsyncWebClient,
    *,
    channel: str,
    day: date,
    now: datetime,
    worker: str,
    force: bool = False,
    chart_later: bool = False,
) -> DigestOutcome:
    """Post the digest of `day` unless it was already posted (or `force`); with
    `chart_later`, return once the message is posted and upload the chart meanwhile."""
    claimed = await claim_digest(engine, day=day, worker=worker, now=now)
    if not claimed and not force:
        return DigestOutcome(day, posted=False, reason=f"the digest of {day} was already posted")
    try:
        data = await gather_digest(engine, day=day, now=now)
        ts = await send_digest(client, channel, data)
    except BaseException:
        if claimed:
            await release_digest(engine, day=day, worker=worker)
        raise
    await digest_done(engine, day=day, now=now)
    if chart_later:
        task = asyncio.create_task(_upload_later(client, channel, data))
        _uploads.add(task)
        task.add_done_callback(_uploads.discard)
        return DigestOutcome(day, posted=True, ts=ts, chart_later=True)
    return DigestOutcome(
        day, posted=True, ts=ts, chart_error=await upload_chart(client, channel, data)
    )


async def _upload_later(client: AsyncWebClient, channel: str, data: DigestData) -> None:
    try:
        error = await upload_chart(client, channel, data)
    except Exception:  # nobody awaits this task: say it here
        log.exception("the aging chart of %s was not drawn", data.day)
        return
    if error is not None:
        log.warning("the aging chart of %s was not uploaded: %s", data.day, error)


async def finish_chart_uploads() -> None:
    """Wait for this event loop's charts still being drawn or uploaded (before it stops)."""
    loop = asyncio.get_running_loop()
    while mine := [task for task in _uploads if task.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)
