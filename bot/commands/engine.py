"""`arseq tick`: scheduler passes at one instant or along a simulated clock.

A pass is one engine tick, then dispatch until nothing more is claimed. Messages go out
through the configured channels (SMTP, Telegram); a channel that is not configured is
stood in for by a ConsoleChannel that prints what it would have sent.
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import build_adapters
from bot.clock import PassStep, engine_config, run_steps, scheduler_pass, worker_name
from bot.commands.common import ready_engine
from bot.errors import UsageProblem
from bot.settings import Settings
from bot.slack.client import close_slack_session
from bot.slack.digest_post import finish_chart_uploads
from bot.slack.pass_steps import slack_steps
from sequences.channels import Channel, ConsoleChannel
from sequences.dispatch import DispatchReport
from sequences.engine import EngineConfig, TickReport
from storage.models import ContactChannel

MAX_PASSES = 100_000
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
          "w": timedelta(weeks=1)}  # fmt: skip
_DURATION = re.compile(r"(\d+)\s*([mhdw])")


def parse_every(text: str) -> timedelta:
    """A step of the simulated clock: 30m, 1h, 1d or 1w (a usage error otherwise)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise UsageProblem(f"--every: expected a duration like 30m, 1h or 1d, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def clock(start: datetime, until: datetime | None, every: timedelta) -> list[datetime]:
    """The instants of the passes: `start`, then every `every` up to `until` (aware UTC)."""
    start = start.astimezone(UTC)
    if until is None:
        return [start]
    until = until.astimezone(UTC)
    if until < start:
        raise UsageProblem("--until must not be before --now")
    count = (until - start) // every + 1
    if count > MAX_PASSES:
        raise UsageProblem(f"{count:,} passes is too many (at most {MAX_PASSES:,}): raise --every")
    return [start + k * every for k in range(count)]


def dispatch_summary(report: DispatchReport) -> str:
    """sent N, skipped N (reason N, ...), retried N, failed N."""
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items()))
    skipped = sum(report.skipped.values())
    return (
        f"sent {report.sent}, skipped {skipped}{f' ({reasons})' if reasons else ''}, "
        f"retried {report.retried}, failed {report.failed}"
    )


def run_ticks(settings: Settings, instants: list[datetime], *, out: TextIO | None = None) -> None:
    """One pass per instant; print each message, then one line per pass."""
    asyncio.run(_run(settings, instants, out or sys.stdout))


async def _run(settings: Settings, instants: list[datetime], out: TextIO) -> None:
    config = engine_config(settings)
    zone = ZoneInfo(settings.timezone)
    worker = worker_name("tick")
    steps = slack_steps(settings)  # the digest when due, new tasks: none when Slack is off
    async with ready_engine(settings) as engine:
        adapters = build_adapters(settings, engine)
        channels: dict[str, Channel] = {
            c.value: ConsoleChannel(c.value, out) for c in ContactChannel
        } | adapters.channels
        try:
            await _passes(engine, channels, instants, config, worker, steps, zone, out)
        finally:
            await finish_chart_uploads()
            await adapters.aclose()
            await close_slack_session()


async def _passes(
    engine: AsyncEngine, channels: dict[str, Channel], instants: list[datetime],
    config: EngineConfig, worker: str, steps: list[PassStep], zone: ZoneInfo, out: TextIO,
) -> None:  # fmt: skip
    for now in instants:
        report, sent = await scheduler_pass(engine, channels, now=now, config=config, worker=worker)
        print(_line(now.astimezone(zone), report, sent), file=out, flush=True)
        for line in await run_steps(steps, engine, now, worker):
            print(line, file=out, flush=True)


def _line(instant: datetime, report: TickReport, sent: DispatchReport) -> str:
    return f"{instant.isoformat(timespec='minutes')}: {report.summary()}; {dispatch_summary(sent)}"
