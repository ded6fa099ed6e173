"""Every KPI against the worked example of docs/kpis.md, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sequences.kpi import compute_kpis
from sequences.kpi_math import cei, countback_dso, dso, median, two_proportion_test
from sequences.kpi_report import kpis_data, save_snapshots
from storage.digest_queries import load_snapshots
from tests.sequences.engine_helpers import utc
from tests.sequences.kpi_example import AS_OF, build_example

USD_AS_OF = {
    "total_ar": "3650.00",
    "current": "2500.00",
    "overdue": "1150.00",
    "aging": {"current": "2500.00", "1-30": "250.00", "31-60": "600.00", "61-90": "0.00",
              "90+": "300.00"},
    "open_invoices": 5,
    "dso": "73.82",
    "dso_countback": "54.16",
    "best_dso": "50.56",
    "add": "23.26",
    "cei": "37.84",
    "sales_90d": "4450.00",
    "sales_mtd": "2700.00",
    "ar_at_month_start": "1650.00",
    "collected_yesterday": "200.00",
    "collected_mtd": "700.00",
    "promises": {"due": 2, "kept": 1, "broken": 1, "pending": 0},
    "disputes": {"open": 2, "median_age_days": "6.81"},
    "collectors": [
        {"owner": "U0BOB001", "total_ar": "2300.00", "overdue": "300.00", "open_invoices": 2},
        {"owner": "U0ANNA01", "total_ar": "1350.00", "overdue": "850.00", "open_invoices": 3},
    ],
    "unavailable": {},
}  # fmt: skip
EUR_AS_OF = {
    "total_ar": "1000.00",
    "current": "0.00",
    "overdue": "1000.00",
    "aging": {"current": "0.00", "1-30": "1000.00", "31-60": "0.00", "61-90": "0.00",
              "90+": "0.00"},
    "open_invoices": 1,
    "dso": "75.00",
    "dso_countback": "38.33",
    "best_dso": "0.00",
    "add": "75.00",
    "cei": "16.67",
    "sales_90d": "1200.00",
    "sales_mtd": "0.00",
    "ar_at_month_start": "1200.00",
    "collected_yesterday": "0.00",
    "collected_mtd": "200.00",
    "promises": {"due": 0, "kept": 0, "broken": 0, "pending": 0},
    "disputes": {"open": 1, "median_age_days": "10.00"},
    "collectors": [
        {"owner": None, "total_ar": "1000.00", "overdue": "1000.00", "open_invoices": 1},
    ],
    "unavailable": {},
}  # fmt: skip


async def _report(engine: AsyncEngine, as_of: date) -> dict:
    async with engine.connect() as conn:
        return kpis_data(await compute_kpis(conn, as_of=as_of))


async def test_worked_example_per_currency(engine: AsyncEngine) -> None:
    await build_example(engine)
    report = await _report(engine, AS_OF)

    assert report["as_of"] == "2026-03-15"
    assert report["currencies"] == {"EUR": EUR_AS_OF, "USD": USD_AS_OF}
    assert "reason" not in report


async def test_worked_example_variants_and_their_test(engine: AsyncEngine) -> None:
    await build_example(engine)
    report = await _report(engine, AS_OF)

    assert report["sequences"] == [
        {"sequence": "past-due-standard", "variant": None, "touched": 1,
         "paid_within_7d": 1, "rate": "1.0000"},
        {"sequence": "past-due-standard", "variant": "past_due_firm", "touched": 2,
         "paid_within_7d": 1, "rate": "0.5000"},
        {"sequence": "past-due-standard", "variant": "past_due_firm_short", "touched": 2,
         "paid_within_7d": 1, "rate": "0.5000"},
    ]  # fmt: skip
    assert report["ab_tests"] == [
        {"sequence": "past-due-standard", "a": "past_due_firm", "b": "past_due_firm_short",
         "z": "0.000", "p_value": "1.0000", "significant": False, "reason": None},
    ]  # fmt: skip


async def test_a_past_as_of_ignores_later_payments_credits_and_invoices(
    engine: AsyncEngine,
) -> None:
    await build_example(engine)
    usd = (await _report(engine, date(2026, 2, 28)))["currencies"]["USD"]

    # U1 owes 600 (its 600 of 2026-03-20 is later), U2 500 not yet due, U4 89 days late.
    assert usd["aging"] == {"current": "500.00", "1-30": "850.00", "31-60": "0.00",
                            "61-90": "300.00", "90+": "0.00"}  # fmt: skip
    assert (usd["total_ar"], usd["sales_90d"], usd["dso"]) == ("1650.00", "1750.00", "84.86")
    eur = (await _report(engine, date(2026, 3, 19)))["currencies"]["EUR"]
    assert eur["total_ar"] == "1000.00"  # the credit of 2026-03-20 is not granted yet
    eur = (await _report(engine, date(2026, 3, 20)))["currencies"]["EUR"]
    assert eur["total_ar"] == "900.00"


async def test_an_empty_ledger_says_there_is_nothing(engine: AsyncEngine) -> None:
    report = await _report(engine, AS_OF)

    assert report["currencies"] == {}
    assert report["sequences"] == [] and report["ab_tests"] == []
    assert report["reason"] == "no invoices, payments, promises or disputes on or before 2026-03-15"


async def test_before_any_sale_the_ratios_say_why_not(engine: AsyncEngine) -> None:
    await build_example(engine)
    eur = (await _report(engine, date(2026, 6, 30)))["currencies"]["EUR"]

    # E1 is still owed, but nothing was invoiced in EUR in the 90 days to June 30.
    assert eur["total_ar"] == "900.00"
    assert eur["dso"] is None and eur["best_dso"] is None and eur["add"] is None
    assert eur["unavailable"]["dso"] == "no credit sales in the last 90 days"
    # June, May, April and March had no EUR sales (122 days), then 900/1200 of 28 February days.
    assert eur["dso_countback"] == "143.00"


async def test_snapshots_keep_one_row_per_day_and_currency(engine: AsyncEngine) -> None:
    await build_example(engine)
    async with engine.begin() as conn:
        kpis = await compute_kpis(conn, as_of=AS_OF)
        await save_snapshots(conn, kpis, now=utc(2026, 3, 16, 9))
        await save_snapshots(conn, kpis, now=utc(2026, 3, 16, 10))  # replaces, no duplicate
    async with engine.connect() as conn:
        stored = await load_snapshots(conn, as_of=AS_OF)
    assert stored == {"EUR": EUR_AS_OF, "USD": USD_AS_OF}


def test_formulas_never_divide_by_zero() -> None:
    assert dso(Decimal(100), Decimal(0)).value is None
    assert cei(Decimal(0), Decimal(0), Decimal(0), Decimal(0)).reason == (
        "nothing was collectible in the period"
    )
    assert countback_dso(Decimal(0), []).value == 0
    assert countback_dso(Decimal(10), [(31, Decimal(0))]).value is None
    assert median([]) is None
    assert two_proportion_test(0, 0, 1, 2).reason == "a variant has no touches yet"
    assert two_proportion_test(0, 5, 0, 5).reason == "every touch had the same outcome"


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "significant"),
    [(30, 100, 50, 100, True), (45, 100, 50, 100, False), (120, 400, 90, 400, True)],
)
def test_two_proportion_test_against_textbook_values(x1, n1, x2, n2, significant) -> None:
    result = two_proportion_test(x1, n1, x2, n2)
    assert result.significant is significant
    if (x1, n1, x2, n2) == (30, 100, 50, 100):
        # pooled p = 0.4; z = -0.2 / sqrt(0.24 * 0.02) = -2.8868; p = 0.00389
        assert result.z == pytest.approx(-2.8868, abs=1e-4)
        assert result.p_value == pytest.approx(0.00389, abs=1e-5)
