"""Child side of the KPI benchmark: all KPIs as of one date, and the one SQL aggregate.

    python -m bench.kpi_child DB AS_OF REPEAT

Warms the file into the page cache with the SQL aggregate, then alternately times
`compute_kpis` (through storage.db's async engine, every KPI) and the hand-written
aggregate (stdlib sqlite3: total AR and the aging buckets as of the date, per
currency), REPEAT times each. Prints {kpi_seconds: [...], sql_seconds: [...],
kpi_total_ar, sql_total_ar, peak_rss_mb}.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from contextlib import closing
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bench.proc import emit, peak_rss_mb
from sequences.kpi import compute_kpis
from storage.db import open_engine
from storage.types import from_scaled

# Total AR and the aging buckets per currency as of :d, written by hand: each invoice's
# balance then is its open amount plus the payments dated after :d.
AGING_SQL = """
SELECT currency, SUM(bal),
       SUM(CASE WHEN due_date >= :d THEN bal ELSE 0 END),
       SUM(CASE WHEN due_date < :d AND due_date >= :d30 THEN bal ELSE 0 END),
       SUM(CASE WHEN due_date < :d30 AND due_date >= :d60 THEN bal ELSE 0 END),
       SUM(CASE WHEN due_date < :d60 AND due_date >= :d90 THEN bal ELSE 0 END),
       SUM(CASE WHEN due_date < :d90 THEN bal ELSE 0 END)
FROM (
    SELECT i.currency, i.due_date, i.open_amount + COALESCE(p.later, 0) AS bal
    FROM invoices i
    LEFT JOIN (SELECT invoice_id, SUM(amount) AS later FROM payments
               WHERE paid_at > :d GROUP BY invoice_id) p ON p.invoice_id = i.id
    WHERE i.issue_date <= :d AND i.status IN ('open', 'paid')
)
WHERE bal > 0
GROUP BY currency
"""


def sql_aggregate(db: str, as_of: date) -> dict[str, Any]:
    params = {"d": as_of.isoformat()} | {
        f"d{n}": (as_of - timedelta(days=n)).isoformat() for n in (30, 60, 90)
    }
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute(AGING_SQL, params).fetchall()
    return {cur: [from_scaled(v) for v in values] for cur, *values in rows}


async def kpis(db: str, as_of: date) -> dict[str, Decimal]:
    async with open_engine(f"sqlite+aiosqlite:///{db}") as engine, engine.connect() as conn:
        result = await compute_kpis(conn, as_of=as_of)
    return {cur: k.total_ar for cur, k in result.currencies.items()}


def main(db: str, as_of_text: str, repeat: int) -> None:
    as_of = date.fromisoformat(as_of_text)
    sql_aggregate(db, as_of)  # warm the page cache
    kpi_times, sql_times = [], []
    kpi_total: dict[str, Decimal] = {}
    sql_total: dict[str, Any] = {}
    for _ in range(repeat):
        started = time.perf_counter()
        kpi_total = asyncio.run(kpis(db, as_of))
        kpi_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        sql_total = sql_aggregate(db, as_of)
        sql_times.append(time.perf_counter() - started)
    emit({
        "kpi_seconds": kpi_times, "sql_seconds": sql_times,
        "kpi_total_ar": {c: str(v) for c, v in kpi_total.items()},
        "sql_total_ar": {c: str(v[0]) for c, v in sql_total.items()},
        "peak_rss_mb": peak_rss_mb(),
    })  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
