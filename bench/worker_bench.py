"""Worker benchmark: real `arseq worker` processes emailing a sink that answers in 20 ms.

The receiver (`bench.lean_smtp`, in this process: a plain asyncio SMTP server, cheaper
than the tests' aiosmtpd sink, so the figure is ours and not the sink's) waits 20 ms
before it answers each message's DATA, as a distant provider would; a serial loop would
then do at most 50 emails a second. The outbox is filled first with rows not yet due, the
workers are started (with `--health-port`) and their first pass awaited through
/healthz: that pass enrolls the ledger's 10,000 open invoices, a tick's work of several
seconds that is not dispatch's (on SQLite it held the write lock, so the rows were made
due after it; on PostgreSQL it was measured). Then one UPDATE makes every row due, and
the clock runs from that commit to the sink accepting the last message.

- `worker_email_per_s`: one worker on SQLite (the default install), 10,000 emails.
- `worker_pg_1_per_s`, `worker_pg_4_per_s`: one, then four workers on one PostgreSQL
  database (ARSEQ_BENCH_POSTGRES_URL, else ARSEQ_TEST_POSTGRES_URL; skipped without
  either), the same 10,000 emails; `worker_pg_4_vs_1_ratio` is four's rate over one's
  (target: not slower). `worker_doubled` counts touches the sink saw more than once in
  all runs (target 0): every touch is sent exactly once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.lean_smtp import LeanSmtp
from bench.registry import ROOT, Context, Result, benchmark
from sequences.store import ensure_library
from storage.db import open_engine
from storage.migrate import upgrade
from storage.models import OutboxMessage
from storage.models import Sequence as SequenceRow
from tests.helpers.due_touches import add_due_emails, outbox_states
from tests.helpers.workers import Workers, worker_env

MESSAGES = 10_000
LATENCY_S = 0.020
TARGET_PER_S = 300
NOT_DUE = datetime(2100, 1, 1, tzinfo=UTC)
PG_ENVS = ("ARSEQ_BENCH_POSTGRES_URL", "ARSEQ_TEST_POSTGRES_URL")
HEALTH = ("worker", "--health-port", "0")  # /healthz says when the first pass has ended


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


@dataclass
class Run:
    """One measured run: how many emails, how long, how many doubled, per-worker lines."""

    count: int
    seconds: float
    doubled: int
    workers: int

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


async def _make_due(engine: AsyncEngine) -> None:
    """Make every row due in one UPDATE. The workers' first passes are over; on SQLite a
    later pass may still hold the write lock for a moment: wait for a gap rather than
    fail on the busy timeout. The clock starts after this commit, so the wait is not
    measured."""
    async with asyncio.timeout(120):
        while True:
            try:
                async with engine.begin() as conn:
                    await conn.execute(
                        update(OutboxMessage).values(next_attempt_at=datetime.now(UTC))
                    )
                return
            except OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                await asyncio.sleep(0.5)


async def without_sequences(engine: AsyncEngine) -> None:
    """Store the built-in sequences switched off: the workers' ticks then start nothing.

    This measures dispatch; the ledger's open invoices would otherwise be enrolled and
    planned by each worker's first pass (the tick benchmarks measure that work).
    """
    async with engine.begin() as conn:
        await ensure_library(conn, now=datetime.now(UTC))
        await conn.execute(update(SequenceRow).values(active=False))


async def _measure(url: str, count: int, workers: int, cwd: Path) -> Run:
    async with open_engine(url) as engine:
        await add_due_emails(engine, count, NOT_DUE)
        await without_sequences(engine)
    async with LeanSmtp(delay=LATENCY_S) as sink, Workers(worker_env(url, sink.port), cwd) as pool:
        started = [await pool.start(*HEALTH) for _ in range(workers)]
        # The clock starts once every worker has made its first pass (on SQLite the
        # first holds the write lock for a moment).
        await asyncio.gather(*(w.passed(limit=300) for w in started))
        async with open_engine(url) as engine:
            await _make_due(engine)
            start = time.perf_counter()
            while sink.accepted < count:  # noqa: ASYNC110 (the sink has no event for it)
                await asyncio.sleep(0.005)
            seconds = time.perf_counter() - start
            codes = await asyncio.gather(*(w.finish(signal.SIGTERM) for w in started))
            states = await outbox_states(engine)
    seen = sink.keys
    if codes != [0] * workers or states != {"sent": count} or len(seen) != count:
        raise RuntimeError(f"exit codes {codes}, outbox {states}, {len(seen)} keys seen")
    return Run(count, seconds, sum(n - 1 for n in seen.values()), workers)


def sqlite_database(work: Path) -> str:
    """A fresh SQLite file in `work`, schema made: its URL."""
    for old in work.glob("worker.db*"):
        old.unlink()
    url = f"sqlite+aiosqlite:///{work / 'worker.db'}"
    asyncio.run(_upgrade(url))
    return url


async def _upgrade(url: str) -> None:
    async with open_engine(url) as engine:
        await upgrade(engine)


def postgres_base() -> str | None:
    """The PostgreSQL server the benchmarks may use (a database of their own), or None."""
    return next((os.environ[e] for e in PG_ENVS if os.environ.get(e)), None)


async def _admin(base: str, statement: str) -> None:
    async with open_engine(base) as engine, engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(statement))


@asynccontextmanager
async def postgres_database(base: str) -> AsyncIterator[str]:
    """A fresh database on `base`'s server, schema made, dropped at the end: its URL."""
    name = f"arseq_bench_{uuid.uuid4().hex[:8]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        await _upgrade(url)
        yield url
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_run(base: str, count: int, workers: int, cwd: Path) -> Run:
    async with postgres_database(base) as url:
        return await _measure(url, count, workers, cwd)


@benchmark("worker", "arseq worker processes: emails to a 20 ms sink, 1 on SQLite, 1 vs 4 on PG")
def workers(ctx: Context) -> list[Result]:
    """One worker on SQLite; one then four on PostgreSQL when a server is configured."""
    count = ctx.size(MESSAGES)
    work = ctx.data_dir / "worker"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.chdir(ROOT)
    sqlite = asyncio.run(_measure(sqlite_database(work), count, 1, work))
    _say(f"1 worker, SQLite: {count} emails in {sqlite.seconds:.2f} s ({sqlite.per_s:,.0f}/s)")
    detail: dict[str, Any] = {"messages": count, "latency_ms": LATENCY_S * 1000, "quick": ctx.quick}
    detail["sqlite_seconds"] = round(sqlite.seconds, 3)
    results = [Result("worker_email_per_s", sqlite.per_s, "msg/s", TARGET_PER_S, ">=", detail)]
    runs = [sqlite]
    base = postgres_base()
    if base is None:
        _say(f"PostgreSQL figures skipped: set {PG_ENVS[0]}")
    else:
        one = asyncio.run(_pg_run(base, count, 1, work))
        four = asyncio.run(_pg_run(base, count, 4, work))
        runs += [one, four]
        _say(f"PostgreSQL: 1 worker {one.per_s:,.0f}/s, 4 workers {four.per_s:,.0f}/s")
        pg = {**detail, "pg_1_seconds": round(one.seconds, 3)}
        pg["pg_4_seconds"] = round(four.seconds, 3)
        results += [
            Result("worker_pg_1_per_s", one.per_s, "msg/s", TARGET_PER_S, ">=", pg),
            Result("worker_pg_4_per_s", four.per_s, "msg/s", TARGET_PER_S, ">=", pg),
            Result("worker_pg_4_vs_1_ratio", four.per_s / one.per_s, "x", 1.0, ">=", pg),
        ]
    doubled = sum(r.doubled for r in runs)
    _say(f"touches sent more than once: {doubled}")
    results.append(Result("worker_doubled", doubled, "msgs", 0, "<=", {"runs": len(runs)}))
    return results
