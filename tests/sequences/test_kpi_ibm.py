"""KPIs on the IBM AR sample as of past dates, against figures worked out from the raw rows.

The expected figures come from plain Python over the CSV rows (tests/helpers/ibm.py
reads them): every invoice is paid in full on its settled date, so its balance at D
is its amount if it was issued by D and settled after D. None of our queries is used.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from sequences.kpi import compute_kpis
from sequences.kpi_report import kpis_data
from tests.helpers.db import import_ok
from tests.helpers.ibm import IBM_FILE, IbmRow, write_ibm_csvs

AS_OF_DATES = [date(2012, 6, 30), date(2013, 3, 15), date(2013, 12, 31)]


def _cents(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _bucket(row: IbmRow, day: date) -> str:
    late = (day - row.due_date).days
    if late <= 0:
        return "current"
    return "1-30" if late <= 30 else "31-60" if late <= 60 else "61-90" if late <= 90 else "90+"


def expected(rows: tuple[IbmRow, ...], day: date) -> dict[str, object]:
    """The figures of one as-of date from the raw rows."""

    def owed(r: IbmRow, at: date) -> bool:
        return r.issue_date <= at < r.settled_date

    aging = dict.fromkeys(["current", "1-30", "31-60", "61-90", "90+"], Decimal(0))
    for r in rows:
        if owed(r, day):
            aging[_bucket(r, day)] += r.amount
    total = sum(aging.values(), Decimal(0))
    sales = sum((r.amount for r in rows if day - timedelta(89) <= r.issue_date <= day), Decimal(0))
    first = day.replace(day=1)
    begin = sum((r.amount for r in rows if owed(r, first - timedelta(1))), Decimal(0))
    sales_mtd = sum((r.amount for r in rows if first <= r.issue_date <= day), Decimal(0))
    cei = (begin + sales_mtd - total) / (begin + sales_mtd - aging["current"]) * 100
    paid = [r for r in rows if r.settled_date <= day]
    return {
        "total_ar": _cents(total),
        "current": _cents(aging["current"]),
        "overdue": _cents(total - aging["current"]),
        "aging": {k: _cents(v) for k, v in aging.items()},
        "open_invoices": sum(1 for r in rows if owed(r, day)),
        "dso": _cents(total / sales * 90),
        "best_dso": _cents(aging["current"] / sales * 90),
        "cei": _cents(cei),
        "collected_yesterday": _cents(
            sum((r.amount for r in paid if r.settled_date == day - timedelta(1)), Decimal(0))
        ),
        "collected_mtd": _cents(
            sum((r.amount for r in paid if r.settled_date >= first), Decimal(0))
        ),
    }


def countback(rows: tuple[IbmRow, ...], day: date) -> str:
    """Countback DSO by months from the raw rows."""
    left = sum((r.amount for r in rows if r.issue_date <= day < r.settled_date), Decimal(0))
    days, end = Decimal(0), day
    while True:
        start = end.replace(day=1)
        sales = sum((r.amount for r in rows if start <= r.issue_date <= end), Decimal(0))
        length = (end - start).days + 1
        if sales >= left:
            return _cents(days + left / sales * length)
        left -= sales
        days += length
        end = start - timedelta(1)


@pytest.fixture
async def ibm_engine(engine, testdata: Path, tmp_path: Path):
    csvs = write_ibm_csvs(testdata / IBM_FILE, tmp_path / "ibm")
    for kind, path in (("customers", csvs.customers), ("invoices", csvs.invoices),
                       ("payments", csvs.payments)):  # fmt: skip
        await import_ok(engine, kind, path)
    return engine, csvs.rows


async def test_ibm_kpis_as_of_past_dates_match_the_raw_rows(ibm_engine) -> None:
    engine, rows = ibm_engine
    for day in AS_OF_DATES:
        async with engine.connect() as conn:
            usd = kpis_data(await compute_kpis(conn, as_of=day))["currencies"]["USD"]
        want = expected(rows, day)
        assert {key: usd[key] for key in want} == want, day
        assert usd["dso_countback"] == countback(rows, day), day
        # ADD is rounded from the exact difference, so it may differ by a cent from the
        # difference of the two rounded figures.
        gap = Decimal(usd["add"]) - (Decimal(usd["dso"]) - Decimal(usd["best_dso"]))
        assert abs(gap) <= Decimal("0.01"), day
