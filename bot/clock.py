"""The service's clock: scheduler passes on an APScheduler interval, and their health.

The clock is an APScheduler interval job that only says "look now": each pass is one
engine tick, then dispatch until nothing more is claimed, so the database decides what
is due and several processes never double a touch. A pass never overlaps the previous
one (`max_instances=1`, `coalesce=True`).

A pass that fails (the database gone away, say) is logged and the clock backs off:
the next passes are skipped for one period, then two, four... up to BACKOFF_CAP, and
the first pass that works again resets it. Stopping sets `halt`: dispatch claims no new
batch, and releases the rows of the batch in flight that it has not started to send.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from sequences.channels import Channel
from sequences.dispatch import DispatchPolicy, DispatchReport, dispatch_all
from sequences.engine import EngineConfig, TickReport, tick

log = logging.getLogger("arseq.clock")

# Work done after each pass (post new tasks, the digest when due): a line to report, or None.
PassStep = Callable[[AsyncEngine, datetime, str], Awaitable[str | None]]

# A pass later than this many clock periods (and at least LATE_FLOOR) is reported late.
LATE_PERIODS = 3
LATE_FLOOR = timedelta(minutes=5)
# The longest wait after failing passes (unless the clock's own period is longer).
BACKOFF_CAP = timedelta(minutes=1)


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's knobs from the configuration."""
    return EngineConfig(
        frequency_cap=settings.frequency_cap,
        min_balance=settings.min_balance,
        exclude_tag=settings.exclude_tag,
        pay_url=settings.pay_url,
        promise_grace=settings.promise_grace,
    )


def dispatch_policy(settings: Settings) -> DispatchPolicy:
    """Dispatch's knobs from the configuration (the claim's lease)."""
    return DispatchPolicy(lease=settings.dispatch_lease)


def worker_name(role: str) -> str:
    """Who claims outbox rows: host, process and role, unique per process."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}"


async def scheduler_pass(
    engine: AsyncEngine,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    config: EngineConfig,
    worker: str,
    policy: DispatchPolicy | None = None,
    halt: asyncio.Event | None = None,
) -> tuple[TickReport, DispatchReport]:
    """One engine tick at `now`, then dispatch until nothing more is claimed or `halt`."""
    report = await tick(engine, now=now, config=config)
    if halt is not None and halt.is_set():
        return report, DispatchReport()
    sent = await dispatch_all(engine, channels, now=now, worker=worker, policy=policy, halt=halt)
    return report, sent


async def run_steps(
    steps: list[PassStep], engine: AsyncEngine, now: datetime, worker: str
) -> list[str]:
    """Run each after-pass step; one failing does not stop the others (logged)."""
    lines = []
    for step in steps:
        try:
            if (line := await step(engine, now, worker)) is not None:
                lines.append(line)
        except Exception:  # a step's failure must not stop the clock; the next pass retries
            log.exception("after-pass step failed")
    return lines


@dataclass
class Clock:
    """The service's clock: runs passes and remembers how the last one went."""

    engine: AsyncEngine
    channels: Mapping[str, Channel]
    config: EngineConfig
    every: timedelta
    worker: str
    steps: list[PassStep] = field(default_factory=list)
    policy: DispatchPolicy | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_pass_at: datetime | None = None
    last_error: str | None = None
    passes: int = 0
    stopping: bool = False
    failures: int = 0
    retry_at: datetime | None = None
    halt: asyncio.Event = field(default_factory=asyncio.Event)
    _busy: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run_pass(self, now: datetime | None = None) -> None:
        """One pass at `now` (default: the wall clock); errors are logged, not raised."""
        async with self._busy:
            if self.stopping:
                return
            at = now or datetime.now(UTC)
            if self.retry_at is not None and at + self.every / 10 < self.retry_at:
                return  # backing off after failed passes
            try:
                report, sent = await scheduler_pass(
                    self.engine, self.channels, now=at, config=self.config,
                    worker=self.worker, policy=self.policy, halt=self.halt,
                )  # fmt: skip
            except Exception as exc:  # the clock must survive a bad pass; the next one retries
                self._failed(at, exc)
                return
            if self.failures:
                log.info("pass %s worked again after %d failed", at.isoformat(), self.failures)
            self.last_pass_at, self.last_error = at, None
            self.failures, self.retry_at = 0, None
            self.passes += 1
            if report.due or sent.claimed:
                log.info("pass %s: %s; sent %d", at.isoformat(), report.summary(), sent.sent)
            for line in await run_steps(self.steps, self.engine, at, self.worker):
                log.info("%s", line)

    def _failed(self, at: datetime, exc: Exception) -> None:
        """Log a failed pass and back off: skip passes for 1, 2, 4... periods (capped)."""
        self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self.failures += 1
        wait = min(self.every * 2 ** (self.failures - 1), max(BACKOFF_CAP, self.every))
        self.retry_at = at + wait
        if self.failures == 1:
            log.exception("scheduler pass failed; next try in %ss", wait.total_seconds())
        else:
            log.error("scheduler pass failed again (%d in a row): %s; next try in %ss",
                      self.failures, self.last_error, wait.total_seconds())  # fmt: skip

    def late_by(self, now: datetime) -> timedelta | None:
        """How late the clock is at `now`, or None when it is on time."""
        allowed = max(self.every * LATE_PERIODS, LATE_FLOOR)
        since = now - (self.last_pass_at or self.started_at)
        return since - allowed if since > allowed else None

    async def idle(self) -> None:
        """Wait for the pass in flight, if any, to finish."""
        async with self._busy:
            return

    async def stop(self, scheduler: AsyncIOScheduler) -> None:
        """Start no new pass, let the one in flight finish, then stop the scheduler."""
        self.stopping = True
        self.halt.set()
        scheduler.pause()
        await self.idle()
        scheduler.shutdown(wait=False)


def start_scheduler(clock: Clock) -> AsyncIOScheduler:
    """An AsyncIOScheduler in the running loop with the clock's interval job (first pass now)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        clock.run_pass,
        "interval",
        seconds=clock.every.total_seconds(),
        next_run_time=datetime.now(UTC),
        id="clock",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(clock.every.total_seconds()) or 1,
    )
    scheduler.start()
    return scheduler
