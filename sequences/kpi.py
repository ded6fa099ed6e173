"""The KPIs of SPEC section 8 as of any date, per currency, over set-based queries.

`compute_kpis(conn, as_of=D)` reads the ledger as it stood at the end of day D (later
payments and credits are added back), so a past date gives the figures that day had.
Formulas are in `sequences.kpi_math`; their sources and a worked example in docs/kpis.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.kpi_math import (
    DSO_WINDOW_DAYS,
    Measure,
    add,
    cei,
    countback_dso,
    dso,
    median,
    month_periods,
)
from sequences.kpi_variants import VariantStats, VariantTest, variant_stats
from storage import kpi_queries as q
from storage.kpi_queries import BUCKETS, CLOSED

ZERO = Decimal(0)
NOT_COMPUTED = Measure(None, "not computed")
NO_DISPUTES = Measure(None, "no open disputes")


@dataclass
class CollectorKpis:
    """One collector's (customer owner's) book in one currency; owner None = unassigned."""

    owner: str | None
    total_ar: Decimal = ZERO
    overdue: Decimal = ZERO
    invoices: int = 0


@dataclass
class PromiseKpis:
    """Promises falling due this month to D, and those settled kept or broken in it."""

    due: int = 0
    kept: int = 0
    broken: int = 0
    pending: int = 0


@dataclass
class CurrencyKpis:
    """Every KPI of one currency as of one date."""

    currency: str
    aging: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKETS, ZERO))
    open_invoices: int = 0
    ar_at_month_start: Decimal = ZERO
    sales_90d: Decimal = ZERO
    sales_mtd: Decimal = ZERO
    dso: Measure = NOT_COMPUTED
    dso_countback: Measure = NOT_COMPUTED
    best_dso: Measure = NOT_COMPUTED
    add: Measure = NOT_COMPUTED
    cei: Measure = NOT_COMPUTED
    collected_yesterday: Decimal = ZERO
    collected_mtd: Decimal = ZERO
    promises: PromiseKpis = field(default_factory=PromiseKpis)
    disputes_open: int = 0
    disputes_median_age_days: Measure = NO_DISPUTES
    collectors: dict[str | None, CollectorKpis] = field(default_factory=dict)

    @property
    def total_ar(self) -> Decimal:
        return sum(self.aging.values(), ZERO)

    @property
    def current(self) -> Decimal:
        return self.aging["current"]

    @property
    def overdue(self) -> Decimal:
        return self.total_ar - self.current


@dataclass
class Kpis:
    """The KPIs as of a date: per currency, and per sequence and A/B variant."""

    as_of: date
    currencies: dict[str, CurrencyKpis]
    variants: list[VariantStats]
    tests: list[VariantTest]

    @property
    def empty_reason(self) -> str | None:
        """Why there is nothing to show, or None."""
        if self.currencies:
            return None
        return f"no invoices, payments, promises or disputes on or before {self.as_of}"


async def compute_kpis(conn: AsyncConnection, *, as_of: date) -> Kpis:
    """All KPIs as of the end of `as_of` (a handful of set-based queries)."""
    month_start = as_of.replace(day=1)
    before_month = month_start - timedelta(days=1)
    per: dict[str, CurrencyKpis] = {}

    def of(currency: str) -> CurrencyKpis:
        if currency not in per:
            per[currency] = CurrencyKpis(currency)
        return per[currency]

    for row in await q.aging_rows(conn, as_of=as_of, start=before_month):
        k = of(row.currency)
        k.ar_at_month_start += row.amount_at_start
        if row.bucket == CLOSED:
            continue
        k.aging[row.bucket] += row.amount
        k.open_invoices += row.invoices
        book = k.collectors.setdefault(row.owner, CollectorKpis(row.owner))
        book.total_ar += row.amount
        book.invoices += row.invoices
        if row.bucket != "current":
            book.overdue += row.amount

    periods = month_periods(as_of)
    monthly: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(periods))
    window_start = as_of - timedelta(days=DSO_WINDOW_DAYS - 1)
    for currency, day, amount in await q.daily_sales(conn, since=periods[-1][0], until=as_of):
        k = of(currency)
        if day >= window_start:
            k.sales_90d += amount
        if day >= month_start:
            k.sales_mtd += amount
        index = (as_of.year - day.year) * 12 + as_of.month - day.month
        monthly[currency][index] += amount

    for currency, yesterday, mtd in await q.collected(conn, as_of=as_of, month_start=month_start):
        of(currency).collected_yesterday = yesterday
        of(currency).collected_mtd = mtd

    _promises(await q.promises_around(conn, since=month_start, as_of=as_of), as_of, of)
    ages: dict[str, list[Decimal]] = defaultdict(list)
    end = q.end_of(as_of)
    for row in await q.open_disputes_at(conn, as_of=as_of):
        of(row.currency).disputes_open += 1
        ages[row.currency].append(Decimal((end - row.opened_at).total_seconds()) / 86400)

    for currency, k in per.items():
        k.dso = dso(k.total_ar, k.sales_90d)
        k.best_dso = dso(k.current, k.sales_90d)
        k.add = add(k.dso, k.best_dso)
        lengths = [(b - a).days + 1 for a, b in periods]
        k.dso_countback = countback_dso(
            k.total_ar, list(zip(lengths, monthly[currency], strict=True))
        )
        k.cei = cei(k.ar_at_month_start, k.sales_mtd, k.total_ar, k.current)
        middle = median(ages[currency])
        if middle is not None:
            k.disputes_median_age_days = Measure(middle)

    stats, tests = await variant_stats(conn, as_of=as_of)
    return Kpis(as_of=as_of, currencies=dict(sorted(per.items())), variants=stats, tests=tests)


def _promises(rows: Sequence[Row], as_of: date, of: Callable[[str], CurrencyKpis]) -> None:
    """Promises due in the month to D; kept and broken as settled (by then) in it."""
    end = q.end_of(as_of)
    month_start = as_of.replace(day=1)
    for row in rows:
        settled = row.resolved_at is not None and row.resolved_at < end
        state = str(row.status) if settled else "pending"
        if state == "cancelled":
            continue  # replaced by a later promise, which is the one that counts
        p = of(row.currency).promises
        if month_start <= row.promised_date <= as_of:
            p.due += 1
            if state == "pending":
                p.pending += 1
        if settled and row.resolved_at >= q.end_of(month_start - timedelta(days=1)):
            if state == "kept":
                p.kept += 1
            elif state == "broken":
                p.broken += 1
