"""The demo's closing summary: what went out on each channel, tasks, disputes and how fast
they were acknowledged, promises, and DSO at the start, at the end, and at the end had
nobody been reminded (the same ledger and behaviours, no sequences)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.demo.customers import Behaviour
from bot.demo.feed import Feed
from bot.demo.ledger import DemoLedger, customers_csv, invoices_csv, payments_csv
from bot.demo.world import World
from sequences.kpi import compute_kpis
from storage.db import open_engine
from storage.importers import import_csv
from storage.migrate import upgrade
from storage.models import Dispute, OutboxMessage, OutboxState, Promise, Task


@dataclass
class Summary:
    start: str
    end: str
    messages: dict[str, int]  # customer messages sent, per channel
    emails_kept: int
    slack_posts: dict[str, int]
    digests: list[str]  # the days a digest was posted
    tasks: dict[str, int]
    disputes: int
    disputes_acknowledged: int
    ack_hours_median: float | None
    ack_hours_max: float | None
    promises: dict[str, int]
    payments: int
    customer_answers: dict[str, int]
    dso_start: dict[str, float | None] = field(default_factory=dict)
    dso_end: dict[str, float | None] = field(default_factory=dict)
    dso_unreminded: dict[str, float | None] = field(default_factory=dict)
    folder: str = ""
    database: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds by part

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def dso_by_currency(engine: AsyncEngine, as_of: date) -> dict[str, float | None]:
    """Standard DSO (90-day window) per currency, as `arseq kpi` computes it."""
    async with engine.connect() as conn:
        kpis = await compute_kpis(conn, as_of=as_of)
    return {cur: (None if k.dso.value is None else round(float(k.dso.value), 1))
            for cur, k in sorted(kpis.currencies.items())}  # fmt: skip


async def counterfactual_dso(
    ledger: DemoLedger, folder: Path, end: date
) -> dict[str, float | None]:
    """DSO at `end` of the same ledger had every invoice been paid on its natural day."""
    sub = folder / "no-reminders"
    sub.mkdir(exist_ok=True)
    issued = [i for i in ledger.invoices if i.issued <= end]
    paid = [(i, i.natural_paid) for i in issued if i.natural_paid and i.natural_paid <= end]
    path = sub / "ledger.db"
    path.unlink(missing_ok=True)
    async with open_engine(f"sqlite+aiosqlite:///{path}") as engine:
        await upgrade(engine)
        await import_csv(engine, "customers", customers_csv(sub, ledger), actor="demo-import")
        await import_csv(
            engine, "invoices", invoices_csv(sub / "invoices.csv", issued), actor="demo-import"
        )
        await import_csv(
            engine, "payments", payments_csv(sub / "payments.csv", paid), actor="demo-import"
        )  # type: ignore[arg-type]
        return await dso_by_currency(engine, end)


def _hours(opened: datetime, acked: datetime) -> float:
    return (acked - opened).total_seconds() / 3600


async def gather(
    engine: AsyncEngine, world: World, feed: Feed, behaviour: Behaviour, *,
    start: date, end: date, payments: int,
) -> Summary:  # fmt: skip
    """Read the run's figures back from the database and the fakes."""
    o, t, d, p = OutboxMessage.__table__, Task.__table__, Dispute.__table__, Promise.__table__
    async with engine.connect() as conn:
        sent = dict((await conn.execute(
            select(o.c.channel, func.count()).where(o.c.state == OutboxState.SENT,
                                                    o.c.kind == "customer_message")
            .group_by(o.c.channel))).all())  # fmt: skip
        tasks = dict((await conn.execute(select(t.c.kind, func.count()).group_by(t.c.kind))).all())
        disputes = (await conn.execute(select(d.c.opened_at, d.c.acknowledged_at))).all()
        promises = dict(
            (await conn.execute(select(p.c.status, func.count()).group_by(p.c.status))).all()
        )
    acks = [_hours(row.opened_at, row.acknowledged_at) for row in disputes if row.acknowledged_at]
    return Summary(
        start=start.isoformat(), end=end.isoformat(),
        messages={str(k): v for k, v in sent.items()}, emails_kept=world.eml_written,
        slack_posts=dict(feed.slack_posts), digests=[day.isoformat() for day, _ in feed.digests],
        tasks={str(k): v for k, v in tasks.items()}, disputes=len(disputes),
        disputes_acknowledged=len(acks),
        ack_hours_median=round(statistics.median(acks), 1) if acks else None,
        ack_hours_max=round(max(acks), 1) if acks else None,
        promises={str(k): v for k, v in promises.items()}, payments=payments,
        customer_answers=dict(behaviour.counts),
    )  # fmt: skip


def _days(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def show(summary: Summary, console: Console) -> None:
    """The closing tables."""
    console.rule(f"[bold]Summary[/] {summary.start} → {summary.end}")
    table = Table(title="What went out", show_header=False)
    for channel, count in sorted(summary.messages.items()):
        table.add_row(f"customer messages by {channel}", f"{count:,}")
    for channel, count in sorted(summary.slack_posts.items()):
        table.add_row(f"Slack posts in {channel}", f"{count:,}")
    table.add_row("digests posted", f"{len(summary.digests)} (one each simulated morning)")
    for kind, count in sorted(summary.tasks.items()):
        table.add_row(f"collector tasks: {kind}", f"{count:,}")
    ack = (
        (
            f"{summary.disputes_acknowledged} acknowledged, median {summary.ack_hours_median} h,"
            f" slowest {summary.ack_hours_max} h"
        )
        if summary.disputes_acknowledged
        else "none acknowledged"
    )
    table.add_row("disputes", f"{summary.disputes} ({ack})")
    table.add_row(
        "promises", ", ".join(f"{k} {v}" for k, v in sorted(summary.promises.items())) or "none"
    )
    table.add_row("payments received", f"{summary.payments:,}")
    console.print(table)
    dso = Table(title="DSO (days, 90-day window)")
    for column in ("currency", "at the start", "at the end", "at the end, nobody reminded"):
        dso.add_column(column, justify="right")
    for currency in sorted(set(summary.dso_end) | set(summary.dso_unreminded)):
        figures = (summary.dso_start, summary.dso_end, summary.dso_unreminded)
        dso.add_row(currency, *(_days(f.get(currency)) for f in figures))
    console.print(dso)
    parts = ", ".join(
        f"{k} {v} s" for k, v in sorted(summary.timings.items(), key=lambda kv: -kv[1])
    )
    console.print(f"Where the time went: {parts}")
    console.print(f"Aging charts of the digests: {summary.folder}/charts")
    console.print(f"Emails: {summary.emails_kept} .eml files in {summary.folder}/mail · "
                  f"database {summary.database} · {summary.seconds} s")  # fmt: skip
