"""KPI benchmark: every KPI as of one date over 1,000,000 invoices and ~1,000,000 payments.

`kpi_seconds`: one `compute_kpis` (aging per currency and collector with the month-start
balances for CEI, daily sales for DSO and countback, collections, promises, disputes,
sequence variants) on the `bench.kpi_data` SQLite ledger, in a child interpreter
(`bench.kpi_child`), median of the runs. `kpi_vs_sql_ratio`: that time over one
hand-written SQL aggregate computing total AR and the aging buckets as of the same
date (stdlib sqlite3), median of the runs. Both are checked to agree on total AR.
"""

from __future__ import annotations

from statistics import median

from bench import kpi_data
from bench.proc import run_child
from bench.registry import Context, Result, benchmark

INVOICES = 1_000_000
TARGET_RATIO = 3
TARGET_SECONDS = 30
RUNS = 3


def _say(message: str) -> None:
    print(f"  {message}", flush=True)


@benchmark("kpi_vs_sql_ratio", "all KPIs as of one date, 1,000,000 invoices: time and vs SQL")
def kpis(ctx: Context) -> list[Result]:
    """Time the KPI set and the single aggregate on the same ledger; report both."""
    invoices = ctx.size(INVOICES)
    db = kpi_data.ledger(ctx.data_dir, invoices, say=_say)
    runs = max(RUNS, ctx.repeat)
    out = run_child("bench.kpi_child", str(db), kpi_data.AS_OF.isoformat(), str(runs))
    if out["kpi_total_ar"] != out["sql_total_ar"]:
        raise RuntimeError(f"KPIs and SQL disagree on total AR: {out}")
    kpi_s, sql_s = median(out["kpi_seconds"]), median(out["sql_seconds"])
    _say(f"KPIs {kpi_s:.2f} s, SQL aggregate {sql_s:.2f} s, ratio {kpi_s / sql_s:.2f}")
    detail = {
        "invoices": invoices,
        "as_of": kpi_data.AS_OF.isoformat(),
        "kpi_seconds": [round(s, 3) for s in out["kpi_seconds"]],
        "sql_seconds": [round(s, 3) for s in out["sql_seconds"]],
        "peak_rss_mb": round(out["peak_rss_mb"], 1),
        "quick": ctx.quick,
    }
    return [
        Result("kpi_seconds", kpi_s, "s", TARGET_SECONDS, "<=", detail),
        Result("kpi_vs_sql_ratio", kpi_s / sql_s, "x", TARGET_RATIO, "<=", detail),
    ]
