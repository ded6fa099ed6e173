"""What the tick's trigger step costs on a ledger where every invoice is already enrolled.

`python -m bench.profile_trigger [--enrollments 1000000] [--disputes 1000]`

The trigger step (`storage.queries.enroll_new_targets`, once per active sequence) is
an INSERT ... SELECT of the targets that never ran the sequence. On a benchmark ledger
(`bench.tick_data`) it inserts nothing, but past-due-standard's SELECT still visits
every open overdue invoice. This prints the query as SQLAlchemy sends it, its plan, its
time through `enroll_new_targets`, and the time of the SELECT built up one condition at
a time (stdlib sqlite3 with the pragmas of `storage.db`), so each part's share shows.
With `--disputes N`, N open disputes are added to the copy and the query is timed again,
then once more with an index on `disputes.invoice_id` (which the schema does not have).
Everything runs on a copy; the cached ledger is left as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench import tick_data
from bench.registry import DATA_DIR
from sequences.store import stored_by_name
from storage.db import SQLITE_CACHE_SIZE, open_engine
from storage.queries import enroll_new_targets


async def _captured(db: Path) -> tuple[float, str, Any]:
    """Run the past-due trigger through our code; its time, SQL and parameters."""
    seen: list[tuple[str, Any]] = []
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _log(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
            seen.append((statement, params))

        async with engine.connect() as conn:
            stored = await stored_by_name(conn, tick_data.SEQUENCE)
        assert stored is not None
        seen.clear()
        async with engine.begin() as conn:
            started = time.perf_counter()
            inserted = await enroll_new_targets(
                conn, sequence_id=stored.id, sequence_name=stored.sequence.name,
                trigger=str(stored.sequence.trigger), now=tick_data.NOW,
                since=stored.created_at, min_balance=Decimal(0), exclude_tag="no-reminders",
            )  # fmt: skip
            seconds = time.perf_counter() - started
    if inserted:
        raise RuntimeError(f"the trigger enrolled {inserted} invoices: the ledger is not as built")
    statement, params = next((s, p) for s, p in seen if s.startswith("INSERT INTO enrollments"))
    return seconds, statement, params


_TODAY = tick_data.NOW.date().isoformat()
_OPEN_OVERDUE = f"invoices.status = 'open' AND invoices.due_date < '{_TODAY}'"
_STEPS = (
    ("index range (status, due_date) only", f"FROM invoices WHERE {_OPEN_OVERDUE}"),
    ("+ read each invoice row (open_amount)",
     f"FROM invoices WHERE {_OPEN_OVERDUE} AND invoices.open_amount > 0"),
    ("+ join its customer (autopay, tags)",
     "FROM invoices JOIN customers ON customers.id = invoices.customer_id "
     f"WHERE {_OPEN_OVERDUE} AND invoices.open_amount > 0 AND customers.autopay IS 0 "
     "AND CAST(customers.tags AS VARCHAR) NOT LIKE '%\"no-reminders\"%'"),
    ("+ NOT EXISTS enrollment in the sequence (the full SELECT, no disputes)",
     "FROM invoices JOIN customers ON customers.id = invoices.customer_id "
     f"WHERE {_OPEN_OVERDUE} AND invoices.open_amount > 0 AND customers.autopay IS 0 "
     "AND CAST(customers.tags AS VARCHAR) NOT LIKE '%\"no-reminders\"%' "
     "AND NOT EXISTS (SELECT enrollments.id FROM enrollments JOIN sequences "
     "ON sequences.id = enrollments.sequence_id WHERE sequences.name = "
     f"'{tick_data.SEQUENCE}' AND enrollments.invoice_id = invoices.id)"),
)  # fmt: skip


def _timed(con: sqlite3.Connection, sql: str, params: Any = ()) -> tuple[float, Any]:
    started = time.perf_counter()
    row = con.execute(sql, params).fetchone()
    return time.perf_counter() - started, row


def main(argv: list[str] | None = None) -> int:
    """Time the trigger step and its parts on a copy of a benchmark ledger."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile_trigger")
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--disputes", type=int, default=0, help="add N open disputes")
    args = parser.parse_args(argv)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    shape = tick_data.Shape.of(args.enrollments, args.due)
    base = tick_data.ledger(DATA_DIR, shape)
    work = DATA_DIR / "profile-trigger-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        db = tick_data.copy(base, work / "arseq.db")
        seconds, statement, params = asyncio.run(_captured(db))
        head, tail = statement.split("FROM", 1)
        select, params = "SELECT count(*) FROM" + tail, params[head.count("?") :]
        print(f"ledger {shape.tag}: enroll_new_targets({tick_data.SEQUENCE}) {seconds:.2f} s")
        print(statement)
        con = sqlite3.connect(db)
        con.execute(f"PRAGMA cache_size = {SQLITE_CACHE_SIZE}")
        for row in con.execute("EXPLAIN QUERY PLAN " + select, params):
            print("  plan:", row[3])
        for label, tail in _STEPS:
            took, (count,) = _timed(con, f"SELECT count(*) {tail}")
            print(f"  {took:7.2f} s  {label}: {count:,} rows")
        if args.disputes:
            with con:
                con.execute(
                    "INSERT INTO disputes (invoice_id, customer_id, reason, status, opened_at) "
                    "SELECT id, customer_id, 'bench', 'open', ? FROM invoices "
                    "WHERE id % ? = 0 LIMIT ?",
                    (tick_data.stamp(tick_data.NOW), max(1, shape.enrollments // args.disputes),
                     args.disputes),
                )  # fmt: skip
            took, _ = _timed(con, select, params)
            print(f"  {took:7.2f} s  the trigger's SELECT with {args.disputes:,} open disputes")
            con.execute("CREATE INDEX bench_disputes_invoice_id ON disputes (invoice_id)")
            took, _ = _timed(con, select, params)
            print(f"  {took:7.2f} s  ... and an index on disputes.invoice_id")
        con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
