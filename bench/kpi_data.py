"""A seeded SQLite ledger for the KPI benchmark, built once and cached in bench/data.

`invoices` invoices over invoices/50 customers (10 collectors, USD and EUR), issued over
the two years up to a few days after `AS_OF`, due 30 days later; about as many payments:
60% of invoices are paid in one payment, 20% in two halves, 20% not at all, each payment
0 to 120 days after issue, so many fall after `AS_OF` (the as-of KPIs add them back).
Rows are written with stdlib `sqlite3` `executemany` in the stored forms of
`storage.types` (scaled-integer money, ISO dates), like `bench.tick_data`.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.tick_data import INSERTS, stamp
from storage.db import open_engine
from storage.migrate import head_revision, upgrade

VERSION = 1
SEED = 20_261_203
AS_OF = date(2026, 3, 10)
CREATED = stamp(datetime(2024, 1, 1, tzinfo=UTC))
SCALE = 100  # cents -> ten-thousandths (storage.types)
PAYMENT_SQL = (
    "INSERT INTO payments (invoice_id, paid_at, amount, reference, natural_key, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def _customers(count: int) -> Iterator[tuple[Any, ...]]:
    for k in range(count):
        yield (k + 1, f"CUST-{k:07d}", f"Customer {k}", None, "UTC", "US", "en",
               "USD" if k % 3 else "EUR", f"U0COLL{k % 10:03d}", None, 0, "[]",
               CREATED, CREATED)  # fmt: skip


def _ledger(invoices: int, customers: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(SEED)
    first = AS_OF - timedelta(days=730)
    inv_rows, pay_rows = [], []
    for n in range(1, invoices + 1):
        customer = rng.randrange(customers) + 1
        issued = first + timedelta(days=rng.randrange(740))
        cents = rng.randrange(1_000, 2_000_000)
        kind = rng.random()
        parts = [cents] if kind < 0.6 else [cents // 2, cents - cents // 2] if kind < 0.8 else []
        for k, part in enumerate(parts):
            day = (issued + timedelta(days=rng.randrange(121))).isoformat()
            pay_rows.append((n, day, part * SCALE, None, f"row:{day}:{k}", CREATED))
        left = (cents - sum(parts)) * SCALE
        last = max((p[1] for p in pay_rows[len(pay_rows) - len(parts) :]), default=None)
        inv_rows.append((
            n, f"INV-{n:08d}", customer, issued.isoformat(),
            (issued + timedelta(days=30)).isoformat(), cents * SCALE, left,
            "USD" if (customer - 1) % 3 else "EUR", "paid" if left <= 0 else "open",
            last if left <= 0 else None, CREATED, CREATED,
        ))  # fmt: skip
    return inv_rows, pay_rows


async def _migrate(db: Path) -> None:
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine:
        await upgrade(engine)


def ledger(data_dir: Path, invoices: int, *, say: Any = print) -> Path:
    """The cached ledger with `invoices` invoices (built on first use). Read only."""
    path = data_dir / f"kpi-ledger-i{invoices}-s{SEED}-v{VERSION}-{head_revision()}.db"
    if path.exists():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    asyncio.run(_migrate(tmp))
    customers = max(1, invoices // 50)
    inv_rows, pay_rows = _ledger(invoices, customers)
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        con.executemany(INSERTS["customers"], _customers(customers))
        con.executemany(INSERTS["invoices"], inv_rows)
        con.executemany(PAYMENT_SQL, pay_rows)
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    os.replace(tmp, path)
    say(f"built {path.name} ({path.stat().st_size / 2**20:.0f} MiB, {len(pay_rows):,} payments)")
    return path
