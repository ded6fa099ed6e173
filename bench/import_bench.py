"""CSV import benchmark: 1,000,000 invoices through `storage.importers.import_csv`.

Customers are imported first (20,000 of them), then the invoices, each in a fresh
child interpreter against a freshly migrated SQLite file. The invoices import gives
the rows-per-second and peak-RSS figures. The baseline is stdlib `sqlite3`
`executemany` of the same rows, parsed beforehand, into the same `invoices` table
(a copy of the database as it was just before our invoices import, so the same
columns, unique index on `number`, other indexes, CHECK and foreign key) in one
transaction: the floor for getting these rows into that table from Python. The ratio
`import_vs_sqlite_ratio` is ours / that baseline. For reference the detail also has a
second baseline: the CSV's own columns into a bare table whose only index is the
unique one on `number` (no foreign key, CHECK or secondary indexes).
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

from bench import datagen
from bench.proc import run_child
from bench.registry import Context, Result, benchmark
from storage.db import open_engine
from storage.importers import IMPORT_CACHE_KIB
from storage.migrate import upgrade
from storage.types import to_scaled

INVOICES = 1_000_000
CUSTOMERS = 20_000
TARGET_ROWS_PER_S = 100_000
TARGET_PEAK_MB = 300
TARGET_RATIO = 3

_LEDGER_COLUMNS = (
    "number", "customer_id", "issue_date", "due_date", "amount", "open_amount", "currency",
    "status", "created_at", "updated_at",
)  # fmt: skip
_CSV_COLUMNS = (
    "number", "customer_external_id", "issue_date", "due_date", "amount", "currency",
    "open_amount",
)  # fmt: skip


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


async def _migrate(db: Path) -> None:
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:
        await upgrade(engine)


def _child_import(kind: str, db: Path, csv_path: Path, expected: int) -> dict[str, Any]:
    out = run_child("bench.import_child", kind, str(db), str(csv_path))
    if out["error_count"] or out["rows"] != expected:
        raise RuntimeError(f"{kind} import refused the generated file: {out}")
    return out


def _count(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as con, con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def ledger_rows(db: Path, csv_path: Path, now: datetime) -> list[tuple[Any, ...]]:
    """The invoices of `csv_path` as the ledger stores them (customer ids resolved,
    money as scaled integers, default currency, status): what the baseline inserts."""
    with closing(sqlite3.connect(db)) as con, con:
        customers = {
            ext: (cid, currency)
            for cid, ext, currency in con.execute("SELECT id, external_id, currency FROM customers")
        }
    stamp = now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    out: list[tuple[Any, ...]] = []
    for number, customer, issued, due, amount, currency, open_amount in plain_rows(csv_path):
        cid, customer_currency = customers[customer]
        if open_amount is None:
            open_amount = amount
        status = "paid" if open_amount <= 0 else "open"
        currency = currency or customer_currency or "USD"
        out.append((number, cid, issued, due, amount, open_amount, currency, status, stamp, stamp))
    return out


def plain_rows(csv_path: Path) -> list[tuple[Any, ...]]:
    """The invoices of `csv_path`, in the CSV's columns, money as scaled integers."""
    out: list[tuple[Any, ...]] = []
    with csv_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        col = {name: i for i, name in enumerate(next(reader))}
        picks = [col[name] for name in _CSV_COLUMNS]
        for row in reader:
            number, customer, issued, due, amount, currency, open_text = (row[i] for i in picks)
            out.append(
                (
                    number,
                    customer,
                    issued,
                    due,
                    to_scaled(Decimal(amount)),
                    currency or None,
                    to_scaled(Decimal(open_text)) if open_text else None,
                )
            )
    return out


def timed_executemany(db: Path, sql: str, rows: list[tuple[Any, ...]]) -> float:
    """Seconds for one `executemany(sql, rows)` in one transaction, with the pragmas
    `storage.db` sets (WAL, synchronous=NORMAL, foreign keys on) and the import's cache."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        # The same page cache our import gives itself: the comparison is of the code.
        con.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
        started = time.perf_counter()
        con.execute("BEGIN")
        con.executemany(sql, rows)
        con.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        con.close()


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def bare_ledger(db: Path, rows: list[tuple[Any, ...]], expected: int) -> float:
    """Baseline: `ledger_rows` into the ledger's own invoices table of `db`."""
    seconds = timed_executemany(db, _insert_sql("invoices", _LEDGER_COLUMNS), rows)
    if _count(db, "invoices") != expected:
        raise RuntimeError("the bare baseline did not insert every row")
    return seconds


def bare_plain(db: Path, rows: list[tuple[Any, ...]], expected: int) -> float:
    """Reference: `plain_rows` into a new bare table whose only index is unique(number)."""
    with closing(sqlite3.connect(db)) as con, con:
        con.execute(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY, number TEXT NOT NULL UNIQUE, "
            "customer_external_id TEXT NOT NULL, issue_date TEXT NOT NULL, "
            "due_date TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT, "
            "open_amount INTEGER)"
        )
    seconds = timed_executemany(db, _insert_sql("invoices", _CSV_COLUMNS), rows)
    if _count(db, "invoices") != expected:
        raise RuntimeError("the bare baseline did not insert every row")
    return seconds


@dataclass
class _Runs:
    """Per-repetition timings (seconds) and peaks (MiB)."""

    ours: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    peak: list[float] = field(default_factory=list)
    before: list[float] = field(default_factory=list)
    sampled: list[float] = field(default_factory=list)


def _measure(ctx: Context, work: Path, customers_csv: Path, invoices_csv: Path) -> _Runs:
    n_invoices, n_customers = ctx.size(INVOICES), ctx.size(CUSTOMERS)
    base = work / "base.db"
    asyncio.run(_migrate(base))
    cust = _child_import("customers", base, customers_csv, n_customers)
    _say(f"customers: {n_customers:,} rows in {cust['seconds']:.2f} s")
    # Parsed once, outside every timing; each repetition starts from a copy of `base`.
    ledger = ledger_rows(base, invoices_csv, datetime.now(UTC))
    plain = plain_rows(invoices_csv)
    runs = _Runs()
    for attempt in range(1, ctx.repeat + 1):
        db = work / "arseq.db"
        shutil.copyfile(base, db)  # engines are disposed: no WAL left beside `base`
        inv = _child_import("invoices", db, invoices_csv, n_invoices)
        if _count(db, "invoices") != n_invoices:
            raise RuntimeError("the invoices table does not hold every imported row")
        db.unlink()
        runs.ours.append(inv["seconds"])
        runs.peak.append(inv["peak_rss_mb"])
        runs.before.append(inv["rss_start_mb"])
        if inv["sampled_peak_rss_mb"] is not None:
            runs.sampled.append(inv["sampled_peak_rss_mb"])
        shutil.copyfile(base, db)
        runs.bare.append(bare_ledger(db, ledger, n_invoices))
        db.unlink()
        runs.plain.append(bare_plain(work / "plain.db", plain, n_invoices))
        (work / "plain.db").unlink()
        _say(
            f"run {attempt}/{ctx.repeat}: ours {runs.ours[-1]:.2f} s "
            f"(peak RSS {runs.peak[-1]:.0f} MiB, {runs.before[-1]:.0f} before the import), "
            f"bare into invoices {runs.bare[-1]:.2f} s, "
            f"bare into a CSV-shaped table {runs.plain[-1]:.2f} s"
        )
    return runs


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 3) for v in values]


@benchmark("import", "CSV import of 1,000,000 invoices vs bare sqlite3 executemany")
def run(ctx: Context) -> list[Result]:
    """Generate (or reuse) the files, import them, time the bare baseline."""
    n_invoices, n_customers = ctx.size(INVOICES), ctx.size(CUSTOMERS)
    started = time.perf_counter()
    customers_csv = datagen.customers_csv(ctx.data_dir, n_customers)
    invoices_csv = datagen.invoices_csv(ctx.data_dir, n_invoices, n_customers)
    _say(
        f"data: {invoices_csv.name} ({invoices_csv.stat().st_size / 2**20:.1f} MiB), "
        f"{customers_csv.name} ready in {time.perf_counter() - started:.1f} s"
    )
    work = ctx.data_dir / "import-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        runs = _measure(ctx, work, customers_csv, invoices_csv)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    seconds = median(runs.ours)
    ratios = [o / b for o, b in zip(runs.ours, runs.bare, strict=True)]
    common = {"rows": n_invoices, "customers": n_customers, "quick": ctx.quick}
    common["repeat"] = ctx.repeat
    return [
        Result(
            "import_rows_per_s",
            n_invoices / seconds,
            "rows/s",
            TARGET_ROWS_PER_S,
            ">=",
            {**common, "median_seconds": round(seconds, 3), "seconds": _rounded(runs.ours)},
        ),
        Result(
            "import_peak_mb",
            max(runs.peak),
            "MiB",
            TARGET_PEAK_MB,
            "<=",
            {
                **common,
                "measure": "child's VmHWM (max over repetitions)",
                "peak_before_import_mb": round(max(runs.before), 1),
                "psutil_sampled_peak_mb": round(max(runs.sampled), 1) if runs.sampled else None,
            },
        ),
        Result(
            "import_vs_sqlite_ratio",
            median(ratios),
            "x",
            TARGET_RATIO,
            "<=",
            {
                **common,
                "baseline": "sqlite3 executemany into the ledger's invoices table",
                "ratios": [round(r, 2) for r in ratios],
                "ours_seconds": _rounded(runs.ours),
                "bare_seconds": _rounded(runs.bare),
                "bare_rows_per_s": round(n_invoices / median(runs.bare)),
                "plain_table_seconds": _rounded(runs.plain),
                "ratio_vs_plain_table": round(seconds / median(runs.plain), 2),
            },
        ),
    ]
