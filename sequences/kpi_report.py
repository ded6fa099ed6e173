"""KPIs as plain data with stable keys: the JSON of `arseq kpi --json` and the snapshots.

Amounts, day counts and percentages are strings with two decimals; a figure that could
not be computed is null, and `unavailable` says why.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.kpi import CurrencyKpis, Kpis
from sequences.kpi_math import Measure, two_places
from storage import digest_queries as dq

MEASURES = ("dso", "dso_countback", "best_dso", "add", "cei", "disputes_median_age_days")


def money(value: Decimal) -> str:
    """An amount as a string with two decimals."""
    return f"{two_places(value):.2f}"


def measure(value: Measure) -> str | None:
    return None if value.value is None else money(value.value)


def currency_data(k: CurrencyKpis) -> dict[str, Any]:
    """One currency's KPIs with the stable keys of `arseq kpi --json`."""
    return {
        "total_ar": money(k.total_ar),
        "current": money(k.current),
        "overdue": money(k.overdue),
        "aging": {bucket: money(amount) for bucket, amount in k.aging.items()},
        "open_invoices": k.open_invoices,
        "dso": measure(k.dso),
        "dso_countback": measure(k.dso_countback),
        "best_dso": measure(k.best_dso),
        "add": measure(k.add),
        "cei": measure(k.cei),
        "sales_90d": money(k.sales_90d),
        "sales_mtd": money(k.sales_mtd),
        "ar_at_month_start": money(k.ar_at_month_start),
        "collected_yesterday": money(k.collected_yesterday),
        "collected_mtd": money(k.collected_mtd),
        "promises": {
            "due": k.promises.due,
            "kept": k.promises.kept,
            "broken": k.promises.broken,
            "pending": k.promises.pending,
        },
        "disputes": {
            "open": k.disputes_open,
            "median_age_days": measure(k.disputes_median_age_days),
        },
        "collectors": [
            {
                "owner": book.owner,
                "total_ar": money(book.total_ar),
                "overdue": money(book.overdue),
                "open_invoices": book.invoices,
            }
            for book in sorted(k.collectors.values(), key=lambda b: (-b.total_ar, b.owner or ""))
        ],
        "unavailable": {
            name: getattr(k, name).reason for name in MEASURES if getattr(k, name).value is None
        },
    }


def _rate(value: float | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def kpis_data(kpis: Kpis) -> dict[str, Any]:
    """The whole report: as_of, per currency, per sequence/variant, A/B tests."""
    data: dict[str, Any] = {
        "as_of": kpis.as_of.isoformat(),
        "currencies": {cur: currency_data(k) for cur, k in kpis.currencies.items()},
        "sequences": [
            {
                "sequence": s.sequence,
                "variant": s.variant,
                "touched": s.touched,
                "paid_within_7d": s.paid_within_7d,
                "rate": _rate(s.rate),
            }
            for s in kpis.variants
        ],
        "ab_tests": [
            {
                "sequence": t.sequence,
                "a": t.a,
                "b": t.b,
                "z": None if t.test.z is None else f"{t.test.z:.3f}",
                "p_value": _rate(t.test.p_value),
                "significant": t.test.significant,
                "reason": t.test.reason,
            }
            for t in kpis.tests
        ],
    }
    if kpis.empty_reason:
        data["reason"] = kpis.empty_reason
    return data


async def save_snapshots(conn: AsyncConnection, kpis: Kpis, *, now: datetime) -> None:
    """Store one snapshot row per currency for the as-of date (replacing an earlier one)."""
    for currency, k in kpis.currencies.items():
        await dq.save_snapshot(
            conn, as_of=kpis.as_of, currency=currency, data=currency_data(k), now=now
        )
