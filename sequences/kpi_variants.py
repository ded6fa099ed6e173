"""Per sequence and A/B variant: touches, and how many were followed by a payment.

A touch is a customer message the outbox sent (`outbox_messages.variant` holds the
template of the customer's A/B arm; a step without variants has None). It counts as
paid when one of its invoices received a payment within 7 days after the touch's day.
Only touches at least 7 days old at D are counted (sent in the 90 days up to D - 7),
so every touch had its full week.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations

from sqlalchemy.ext.asyncio import AsyncConnection

from sequences.kpi_math import ProportionTest, two_proportion_test
from storage import kpi_queries as q

PAID_WITHIN = timedelta(days=7)
TOUCH_WINDOW = timedelta(days=90)


@dataclass(frozen=True)
class VariantStats:
    """One sequence's variant (None: the steps without variants)."""

    sequence: str
    variant: str | None
    touched: int
    paid_within_7d: int

    @property
    def rate(self) -> float | None:
        return self.paid_within_7d / self.touched if self.touched else None


@dataclass(frozen=True)
class VariantTest:
    """Two variants of one sequence compared by a two-proportion z-test."""

    sequence: str
    a: str
    b: str
    test: ProportionTest


async def variant_stats(
    conn: AsyncConnection, *, as_of: date
) -> tuple[list[VariantStats], list[VariantTest]]:
    """Touches and payments within 7 days per (sequence, variant), and A/B tests."""
    last_day = as_of - PAID_WITHIN
    rows = await q.touches(conn, since=q.end_of(last_day - TOUCH_WINDOW), until=q.end_of(last_day))
    invoice_ids = {int(i) for row in rows for i in row.invoice_ids or ()}
    first = min((row.sent_at.date() for row in rows), default=as_of)
    paid = await q.payment_days(conn, invoice_ids=invoice_ids, since=first, until=as_of)
    counts: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        day = row.sent_at.date()
        hit = any(
            day <= paid_on <= day + PAID_WITHIN
            for i in row.invoice_ids or ()
            for paid_on in paid.get(int(i), ())
        )
        count = counts[(row.sequence, row.variant)]
        count[0] += 1
        count[1] += int(hit)
    stats = [
        VariantStats(seq, variant, touched, hits)
        for (seq, variant), (touched, hits) in sorted(
            counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        )
    ]
    return stats, _tests(stats)


def _tests(stats: list[VariantStats]) -> list[VariantTest]:
    """Every pair of named variants within one sequence."""
    by_sequence: dict[str, list[VariantStats]] = defaultdict(list)
    for s in stats:
        if s.variant is not None:
            by_sequence[s.sequence].append(s)
    tests = []
    for sequence, arms in by_sequence.items():
        for a, b in combinations(arms, 2):
            result = two_proportion_test(a.paid_within_7d, a.touched, b.paid_within_7d, b.touched)
            tests.append(VariantTest(sequence, str(a.variant), str(b.variant), result))
    return tests
