"""`arseq demo`: the whole product on embedded defaults, over a simulated period.

A fresh SQLite database, the sample ledger imported through the real importer, the
built-in sequences, and every channel on: email to an aiosmtpd sink (each message kept
as an .eml file), Slack and Telegram to in-process fakes. A simulated clock drives the
real scheduler passes (engine tick, dispatch, Slack's after-pass steps) a few times a
day; customers and managers answer by their profile (`bot.demo.customers`).
"""

from __future__ import annotations

import json
import logging
import random
import sys
import tempfile
import time as wall
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import build_adapters
from bot.clock import PassStep, engine_config, run_steps, scheduler_pass
from bot.demo.customers import Behaviour, SimClock
from bot.demo.feed import Feed
from bot.demo.ledger import (
    DemoInvoice,
    DemoLedger,
    customers_csv,
    generate,
    invoices_csv,
    payments_csv,
)
from bot.demo.summary import Summary, counterfactual_dso, dso_by_currency, gather, show
from bot.demo.world import TELEGRAM_TOKEN, open_world
from bot.errors import CliError
from bot.logs import setup_logging
from bot.slack.client import close_slack_session, slack_client
from bot.slack.digest_post import finish_chart_uploads
from bot.slack.pacing import ChannelPacer
from bot.slack.pass_steps import slack_steps
from bot.telegram.dispatcher import build_dispatcher
from bot.telegram.limits import SendLimiter
from bot.telegram.mount import make_bot
from sequences.channels import Channel
from sequences.engine import EngineConfig
from storage.db import open_engine
from storage.importers import import_csv
from storage.migrate import upgrade
from storage.models import Customer, Invoice

log = logging.getLogger("arseq.demo")

# The scheduler passes of each simulated day (UTC): every customer's 09:00-17:00 send
# window, from Sydney and Tokyo to Los Angeles, holds one of them, in summer and in
# winter (Asia-Pacific at 04:00, Europe at 12:00, the Americas at 20:00).
PASS_HOURS = (4, 12, 20)
WORK_HOUR = 16  # collectors work through their tasks
ANSWER_HOUR = 22  # customers read the day's reminders and answer
IMPORT_TIME = time(0, 5)  # the nightly import: yesterday's invoices and payments


def at(day: date, when: time) -> datetime:
    return datetime.combine(day, when, UTC)


async def _import(engine: AsyncEngine, kind: str, path: Path, now: datetime) -> None:
    report = await import_csv(engine, kind, path, actor="demo-import", now=now)
    if not report.ok:
        raise CliError(f"the sample {kind} did not import: {report.errors[0]}")
    log.info("import", extra={"event": "import", "kind": kind, "rows": report.rows})


async def _ids(
    engine: AsyncEngine, ledger: DemoLedger
) -> tuple[dict[int, DemoInvoice], dict[str, int]]:
    by_number = {i.number: i for i in ledger.invoices}
    async with engine.connect() as conn:
        invoices = (await conn.execute(select(Invoice.id, Invoice.number))).all()
        customers = (await conn.execute(select(Customer.id, Customer.external_id))).all()
    return ({row.id: by_number[row.number] for row in invoices if row.number in by_number},
            {row.external_id: row.id for row in customers})  # fmt: skip


class Demo:
    """One run: the ledger, the world, the clock; `play` runs it day by day."""

    def __init__(self, *, days: int, seed: int, folder: Path, db_path: Path, console: Console):
        self.days, self.seed, self.folder, self.db_path = days, seed, folder, db_path
        self.console = console
        self.start = datetime.now(UTC).date()
        self.ledger = generate(seed=seed, start=self.start, days=days)
        self.clock = SimClock(at(self.start, time(0)))
        self.invoice_ids: dict[int, DemoInvoice] = {}
        self.timings: dict[str, float] = {}

    async def _nightly_import(self, engine: AsyncEngine, day: date) -> int:
        """Import the invoices issued today and the payments that arrived (by profile)."""
        now = at(day, IMPORT_TIME)
        new = self.ledger.issued_on(day)
        if new:
            await _import(
                engine, "invoices", invoices_csv(self.folder / "new-invoices.csv", new), now
            )
        paid = [(i, day) for i in self.ledger.invoices
                if i.issued <= day and (pay := i.pays_on()) is not None and pay <= day]  # fmt: skip
        if paid:
            await _import(
                engine, "payments", payments_csv(self.folder / "new-payments.csv", paid), now
            )
            for invoice, _ in paid:
                invoice.paid_on = day
        if new:
            self.invoice_ids, _ = await _ids(engine, self.ledger)
        return len(paid)

    async def _opening_ledger(self, engine: AsyncEngine) -> None:
        """Customers, the invoices issued before the start, and the payments made then."""
        now = self.clock.now
        await _import(engine, "customers", customers_csv(self.folder, self.ledger), now)
        history = self.ledger.issued_before(self.start)
        await _import(engine, "invoices", invoices_csv(self.folder / "invoices.csv", history), now)
        paid = [(i, i.natural_paid) for i in history
                if i.natural_paid is not None and i.natural_paid < self.start]  # fmt: skip
        await _import(engine, "payments", payments_csv(self.folder / "payments.csv", paid), now)  # type: ignore[arg-type]
        for invoice, day in paid:
            invoice.paid_on = day

    async def play(self) -> Summary:
        started = wall.perf_counter()
        url = f"sqlite+aiosqlite:///{self.db_path}"
        async with open_world(self.folder) as world, open_engine(url) as engine:
            await upgrade(engine)
            settings = world.settings(url)
            await self._opening_ledger(engine)
            self.invoice_ids, customer_ids = await _ids(engine, self.ledger)
            adapters = build_adapters(settings, engine)
            # The limits are per real second; the clock here is simulated.
            telegram = adapters.channels["telegram"]
            telegram.limiter = SendLimiter(per_chat=1e6, overall=1e6)  # type: ignore[attr-defined]
            steps = [self._timed_step(s) for s in slack_steps(settings, ChannelPacer(0.0))]
            bot = make_bot(TELEGRAM_TOKEN, world.telegram.base_url)
            behaviour = Behaviour(
                engine=engine, bot=bot, dispatcher=build_dispatcher(engine, clock=self.clock),
                telegram=world.telegram, slack=slack_client(settings), rng=random.Random(self.seed),
                invoice_ids=self.invoice_ids, customer_ids=customer_ids, clock=self.clock,
                settings=settings,
            )  # fmt: skip
            feed = Feed(world, self.console)
            config = engine_config(settings)
            try:
                day_before = self.start - timedelta(days=1)
                with self.timed("telegram links"):
                    linked = await behaviour.link_telegram(self.ledger.customers, day_before)
                feed.add("customer", f"{linked} customers opened their /ar link in Telegram")
                paid_total = 0
                with self._progress() as progress:
                    task = progress.add_task("days", total=self.days)
                    for number in range(1, self.days + 1):
                        day = self.start + timedelta(days=number - 1)
                        paid_total += await self._day(engine, adapters.channels, steps, config,
                                                      behaviour, feed, day)  # fmt: skip
                        progress.console.print()
                        feed.print_day(day, number)
                        progress.advance(task)
                await finish_chart_uploads()  # the last digests' charts, for the folder
                feed.collect(self.start + timedelta(days=self.days - 1))
                end = self.start + timedelta(days=self.days - 1)
                summary = await gather(engine, world, feed, behaviour, start=self.start, end=end,
                                       payments=paid_total)  # fmt: skip
                summary.dso_start = await dso_by_currency(engine, self.start)
                summary.dso_end = await dso_by_currency(engine, end)
            finally:
                await adapters.aclose()
                await bot.session.close()
                await close_slack_session()
        summary.dso_unreminded = await counterfactual_dso(self.ledger, self.folder, end)
        summary.folder, summary.database = str(self.folder), str(self.db_path)
        summary.seconds = round(wall.perf_counter() - started, 1)
        summary.timings = {k: round(v, 1) for k, v in self.timings.items()}
        return summary

    @contextmanager
    def timed(self, part: str) -> Iterator[None]:
        """Add the wall time of the block to `part` (the summary's timings)."""
        began = wall.perf_counter()
        try:
            yield
        finally:
            self.timings[part] = self.timings.get(part, 0.0) + wall.perf_counter() - began

    def _timed_step(self, step: PassStep) -> PassStep:
        """The after-pass step, its wall time counted under its name."""
        name = f"Slack {getattr(step, '__self__', step).__class__.__name__}"

        async def timed_step(engine: AsyncEngine, now: datetime, worker: str) -> str | None:
            with self.timed(name):
                return await step(engine, now, worker)

        return timed_step

    async def _day(
        self, engine: AsyncEngine, channels: dict[str, Channel], steps: list[PassStep],
        config: EngineConfig, behaviour: Behaviour, feed: Feed, day: date,
    ) -> int:  # fmt: skip
        """One simulated day: the nightly import, the passes, the people; payments made."""
        with self.timed("imports"):
            paid = await self._nightly_import(engine, day)
        behaviour.invoice_ids.update(self.invoice_ids)
        if paid:
            feed.add("customer", f"{paid} payment(s) arrived in the bank import")
        for hour in PASS_HOURS:
            self.clock.now = at(day, time(hour))
            with self.timed("scheduler passes"):
                await scheduler_pass(engine, channels, now=self.clock.now, config=config,
                                     worker="demo")  # fmt: skip
            for line in await run_steps(steps, engine, self.clock.now, "demo"):
                log.info("%s", line, extra={"event": "after_pass"})
            with self.timed("people"):
                for line in await behaviour.managers(self.clock.now):
                    feed.add("slack", line)
                if hour < WORK_HOUR <= hour + 8:
                    self.clock.now = at(day, time(WORK_HOUR))
                    for line in await behaviour.collectors(self.clock.now):
                        feed.add("slack", line)
            with self.timed("feed"):
                feed.collect(day)
        self.clock.now = at(day, time(ANSWER_HOUR))
        with self.timed("people"):
            for line in await behaviour.answer_reminders(day):
                feed.add("customer", line)
        with self.timed("feed"):
            feed.collect(day)
        return paid

    def _progress(self) -> Progress:
        return Progress(TextColumn("[bold]simulated days"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=self.console)  # fmt: skip


async def run_demo(
    *, days: int, seed: int, db: Path | None, console: Console | None = None
) -> Summary:
    """Play the demo and print its summary; it is also written to summary.json."""
    console = console or Console()
    setup_logging(logging.WARNING if sys.stderr.isatty() else logging.INFO)
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)  # the app's client+token notice
    if db is not None and db.exists():  # noqa: ASYNC240 (once, before anything runs)
        raise CliError(
            f"{db} exists: the demo starts from a fresh database (remove it or pick another --db)"
        )
    folder = Path(tempfile.mkdtemp(prefix="arseq-demo-")) if db is None else db.parent
    folder.mkdir(parents=True, exist_ok=True)
    db_path = db or folder / "demo.db"
    console.print(f"[bold]ARSeq demo[/]: {days} simulated days, seed {seed}, in {folder}")
    demo = Demo(days=days, seed=seed, folder=folder, db_path=db_path, console=console)
    summary = await demo.play()
    show(summary, console)
    (folder / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2, default=str))
    return summary
