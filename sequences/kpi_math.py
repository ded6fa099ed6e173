"""The KPI formulas as pure functions over numbers (see docs/kpis.md for each source).

A figure that cannot be computed (no sales, nothing collectible) is a `Measure` with
no value and the reason, never a division by zero. Money and day counts are Decimal;
only the A/B test's statistics are floats (they are probabilities, not money).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
DSO_WINDOW_DAYS = 90
COUNTBACK_MONTHS = 24
SIGNIFICANCE = 0.05


def two_places(value: Decimal) -> Decimal:
    """Round half up to two decimals (only when a figure is shown or stored)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Measure:
    """A computed figure, or None and why it could not be computed."""

    value: Decimal | None
    reason: str | None = None

    @classmethod
    def missing(cls, reason: str) -> Measure:
        return cls(None, reason)


def dso(receivables: Decimal, sales: Decimal, days: int = DSO_WINDOW_DAYS) -> Measure:
    """Standard DSO: receivables / credit sales of the last `days` days x `days`."""
    if sales <= 0:
        return Measure.missing(f"no credit sales in the last {days} days")
    return Measure(receivables / sales * days)


def add(dso_value: Measure, best: Measure) -> Measure:
    """Average days delinquent: DSO minus best possible DSO."""
    if dso_value.value is None or best.value is None:
        return Measure.missing(dso_value.reason or best.reason or "DSO unavailable")
    return Measure(dso_value.value - best.value)


def cei(begin: Decimal, sales: Decimal, end_total: Decimal, end_current: Decimal) -> Measure:
    """Collection effectiveness index, percent, over one period.

    (begin + sales - end_total) / (begin + sales - end_current) x 100.
    """
    collectible = begin + sales - end_current
    if collectible <= 0:
        return Measure.missing("nothing was collectible in the period")
    return Measure((begin + sales - end_total) / collectible * 100)


def month_periods(as_of: date, months: int = COUNTBACK_MONTHS) -> list[tuple[date, date]]:
    """Calendar months back from `as_of`, newest first: this month to date, then whole ones."""
    periods = [(as_of.replace(day=1), as_of)]
    while len(periods) < months:
        last_end = periods[-1][0] - timedelta(days=1)
        periods.append((last_end.replace(day=1), last_end))
    return periods


def countback_dso(receivables: Decimal, periods: list[tuple[int, Decimal]]) -> Measure:
    """Countback DSO: walk back month by month, taking each month's sales off receivables.

    `periods` are (days, sales), newest first. Each month whose sales are used up adds
    its days; the month that covers what remains adds its share of days.
    """
    if receivables <= 0:
        return Measure(Decimal(0))
    remaining, days = receivables, Decimal(0)
    for length, sales in periods:
        if sales >= remaining:
            return Measure(days + remaining / sales * length)
        remaining -= sales
        days += length
    return Measure.missing(f"receivables exceed the credit sales of the last {len(periods)} months")


def median(values: Iterable[Decimal]) -> Decimal | None:
    """The median, or None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(frozen=True)
class ProportionTest:
    """Two-proportion z-test of success rates x1/n1 against x2/n2."""

    z: float | None
    p_value: float | None
    significant: bool
    reason: str | None = None


def two_proportion_test(
    x1: int, n1: int, x2: int, n2: int, alpha: float = SIGNIFICANCE
) -> ProportionTest:
    """Is the difference between two success rates significant (two-sided, pooled z)?"""
    if n1 == 0 or n2 == 0:
        return ProportionTest(None, None, False, "a variant has no touches yet")
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return ProportionTest(None, None, False, "every touch had the same outcome")
    z = (x1 / n1 - x2 / n2) / spread
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return ProportionTest(z, p_value, p_value < alpha)
