"""The daily digest's content and its once-a-day claim (Slack-free: bot/ posts it).

The digest of local day T shows the KPIs as of T beside the snapshots of T-1 and
T-30 (taken then, or computed now and stored: the as-of computation is exact), the
accounts owing most past due, disputes needing attention, promises due today and
broken yesterday, and open tasks per collector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.kpi import compute_kpis
from sequences.kpi_report import kpis_data, save_snapshots
from storage import digest_queries as dq
from storage import kpi_queries as q

DIGEST_JOB = "digest"
TOP_ACCOUNTS = 5
DISPUTE_ATTENTION_AGE = timedelta(days=7)
# A claim never marked done this long after it was taken is from a worker that died.
STALE_CLAIM = timedelta(hours=1)


@dataclass
class DigestData:
    """Everything the digest shows, as plain data."""

    day: date
    report: dict[str, Any]  # kpis_data() as of `day`
    yesterday: dict[str, dict[str, Any]]  # per-currency snapshot of day - 1
    month_ago: dict[str, dict[str, Any]]  # per-currency snapshot of day - 30
    top_overdue: list[Row]
    disputes: list[Row]  # open, and unacknowledged or older than a week
    promises_due: list[Row]
    promises_broken: list[Row]
    tasks: list[tuple[str | None, int]]


def digest_day(now: datetime, zone: ZoneInfo, at: time) -> date | None:
    """The local day whose digest is due at `now` (its time has passed), else None."""
    local = now.astimezone(zone)
    return local.date() if local.time() >= at else None


async def claim_digest(engine: AsyncEngine, *, day: date, worker: str, now: datetime) -> bool:
    """Take the digest of `day`: True for exactly one caller, however many race."""
    async with engine.begin() as conn:
        return await dq.claim_day(
            conn, job=DIGEST_JOB, day=day, worker=worker, now=now, stale_before=now - STALE_CLAIM
        )


async def release_digest(engine: AsyncEngine, *, day: date, worker: str) -> None:
    """Give the claim back after a failed post, so the next tick tries again."""
    async with engine.begin() as conn:
        await dq.release_day(conn, job=DIGEST_JOB, day=day, worker=worker)


async def digest_done(engine: AsyncEngine, *, day: date, now: datetime) -> None:
    async with engine.begin() as conn:
        await dq.finish_day(conn, job=DIGEST_JOB, day=day, now=now)


async def snapshot(engine: AsyncEngine, *, day: date, now: datetime) -> dict[str, dict[str, Any]]:
    """The per-currency snapshot of `day`: the stored one, else computed now and stored."""
    async with engine.begin() as conn:
        stored = await dq.load_snapshots(conn, as_of=day)
        if stored:
            return stored
        kpis = await compute_kpis(conn, as_of=day)
        await save_snapshots(conn, kpis, now=now)
        return kpis_data(kpis)["currencies"]


async def gather_digest(engine: AsyncEngine, *, day: date, now: datetime) -> DigestData:
    """Compute and collect the digest of `day`; today's snapshot is stored (replaced)."""
    async with engine.begin() as conn:
        kpis = await compute_kpis(conn, as_of=day)
        await save_snapshots(conn, kpis, now=now)
        promises = await q.promises_around(conn, since=day - timedelta(days=1), as_of=day)
        disputes = await q.open_disputes_at(conn, as_of=day)
        top = await dq.top_overdue(conn, as_of=day, limit=TOP_ACCOUNTS)
        tasks = await dq.open_tasks_per_assignee(conn)
    yesterday = await snapshot(engine, day=day - timedelta(days=1), now=now)
    month_ago = await snapshot(engine, day=day - timedelta(days=30), now=now)
    yesterday_start, today_start = q.end_of(day - timedelta(days=2)), q.end_of(day - timedelta(1))
    return DigestData(
        day=day,
        report=kpis_data(kpis),
        yesterday=yesterday,
        month_ago=month_ago,
        top_overdue=list(top),
        disputes=[
            d for d in disputes if not d.acknowledged or now - d.opened_at >= DISPUTE_ATTENTION_AGE
        ],
        promises_due=[
            p
            for p in promises
            if p.promised_date == day
            and (p.resolved_at is None or p.resolved_at >= now)
            and str(p.status) == "pending"
        ],
        promises_broken=[
            p
            for p in promises
            if str(p.status) == "broken"
            and p.resolved_at is not None
            and yesterday_start <= p.resolved_at < today_start
        ],
        tasks=tasks,
    )
