"""Importing invoices.csv: upserts by number, currency defaults, all-or-nothing files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from storage.importers import import_csv
from tests.helpers.db import counts, import_ok, invoice, invoices, payments, snapshot, write_csv

HEADER = "number,customer_external_id,issue_date,due_date,amount,currency"


@pytest.fixture
async def customers(engine, tmp_path: Path) -> None:
    """C-DE in Germany (EUR), C-JP in Japan (JPY), C-XX with no country (no currency)."""
    path = write_csv(
        tmp_path / "customers.csv",
        """
        external_id,name,country
        C-DE,Müller GmbH,DE
        C-JP,株式会社テスト,JP
        C-XX,Nowhere Ltd,
        """,
    )
    await import_ok(engine, "customers", path)


@pytest.fixture
def invoices_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "invoices.csv",
        f"""
        {HEADER}
        INV-1,C-DE,2026-01-05,2026-02-04,100.00,
        INV-2,C-DE,2026-01-06,2026-02-05,250.5,
        INV-3,C-XX,2026-01-07,2026-01-07,19.99,
        """,
    )


async def test_invoices_import_stores_rows_open_for_their_full_amount(
    engine, customers, invoices_csv
) -> None:
    report = await import_ok(engine, "invoices", invoices_csv)

    assert (report.rows, report.inserted, report.updated) == (3, 3, 0)
    inv = await invoice(engine, "INV-2")
    assert inv["issue_date"] == date(2026, 1, 6)
    assert inv["due_date"] == date(2026, 2, 5)
    assert inv["amount"] == Decimal("250.50")
    assert inv["open_amount"] == Decimal("250.50")  # open_amount defaults to amount
    assert inv["status"] == "open"
    assert inv["paid_at"] is None
    # Due on the day of issue is allowed.
    assert (await invoice(engine, "INV-3"))["due_date"] == date(2026, 1, 7)


async def test_invoice_currency_defaults_to_the_customers_then_usd(
    engine, customers, tmp_path
) -> None:
    cases = {  # number: (customer, currency in the file, currency stored)
        "INV-1": ("C-DE", "", "EUR"),  # blank -> the customer's currency (from country DE)
        "INV-2": ("C-JP", "", "JPY"),
        "INV-3": ("C-XX", "", "USD"),  # customer without a known currency -> USD
        "INV-4": ("C-DE", "USD", "USD"),  # explicit currency kept
        "INV-5": ("C-XX", "gbp", "GBP"),  # explicit, upper-cased
    }
    rows = "".join(
        f"{number},{cust},2026-01-05,2026-02-04,10,{cur}\n"
        for number, (cust, cur, _) in cases.items()
    )

    await import_ok(engine, "invoices", write_csv(tmp_path / "i.csv", f"{HEADER}\n{rows}"))

    stored = await invoices(engine)
    assert {n: inv["currency"] for n, inv in stored.items()} == {
        n: want for n, (_, _, want) in cases.items()
    }


async def test_invoice_currency_defaults_without_a_currency_column(
    engine, customers, tmp_path
) -> None:
    path = write_csv(
        tmp_path / "i.csv",
        """
        number,customer_external_id,issue_date,due_date,amount
        INV-1,C-DE,2026-01-05,2026-02-04,10
        INV-2,C-XX,2026-01-05,2026-02-04,10
        """,
    )

    await import_ok(engine, "invoices", path)

    stored = await invoices(engine)
    assert (stored["INV-1"]["currency"], stored["INV-2"]["currency"]) == ("EUR", "USD")


async def test_invoice_open_amount_column_is_taken_as_given(engine, customers, tmp_path) -> None:
    path = write_csv(
        tmp_path / "i.csv",
        """
        number,customer_external_id,issue_date,due_date,amount,open_amount
        INV-1,C-DE,2026-01-05,2026-02-04,100,40
        INV-2,C-DE,2026-01-05,2026-02-04,100,0
        INV-3,C-DE,2026-01-05,2026-02-04,100,
        """,
    )

    await import_ok(engine, "invoices", path)

    stored = await invoices(engine)
    assert (stored["INV-1"]["open_amount"], stored["INV-1"]["status"]) == (Decimal(40), "open")
    assert (stored["INV-2"]["open_amount"], stored["INV-2"]["status"]) == (Decimal(0), "paid")
    assert (stored["INV-3"]["open_amount"], stored["INV-3"]["status"]) == (Decimal(100), "open")


async def test_invoices_reimported_twice_gives_no_duplicates(
    engine, customers, invoices_csv
) -> None:
    await import_ok(engine, "invoices", invoices_csv)
    first = await snapshot(engine, ignore=("updated_at",))

    again = await import_ok(engine, "invoices", invoices_csv)

    assert (again.rows, again.inserted, again.updated) == (3, 0, 3)
    assert "0 new, 3 updated" in again.summary()
    second = await snapshot(engine, ignore=("updated_at",))
    assert second["invoices"] == first["invoices"]
    assert (await counts(engine))["invoices"] == 3


async def test_invoices_changed_row_in_a_reimport_updates_the_stored_invoice(
    engine, customers, invoices_csv, tmp_path
) -> None:
    await import_ok(engine, "invoices", invoices_csv)
    changed = write_csv(
        tmp_path / "changed.csv",
        f"""
        {HEADER}
        INV-1,C-XX,2026-01-10,2026-03-10,120.00,CHF
        INV-4,C-DE,2026-01-11,2026-02-10,5,
        """,
    )

    report = await import_ok(engine, "invoices", changed)

    assert (report.rows, report.inserted, report.updated) == (2, 1, 1)
    inv = await invoice(engine, "INV-1")
    assert (inv["issue_date"], inv["due_date"]) == (date(2026, 1, 10), date(2026, 3, 10))
    assert (inv["amount"], inv["open_amount"], inv["currency"]) == (
        Decimal(120),
        Decimal(120),
        "CHF",
    )
    stored = await invoices(engine)
    assert len(stored) == 4
    assert stored["INV-2"]["amount"] == Decimal("250.5")  # not in the file: untouched


async def test_invoices_file_with_bad_rows_imports_nothing_and_lists_each(
    engine, customers, invoices_csv, tmp_path
) -> None:
    await import_ok(engine, "invoices", invoices_csv)
    before = await snapshot(engine)
    path = write_csv(
        tmp_path / "bad.csv",
        f"""
        {HEADER}
        NEW-1,C-DE,2026-03-01,2026-03-31,10.00,
        BAD-DATE,C-DE,2026-13-01,2026-03-31,10.00,
        BAD-AMOUNT,C-DE,2026-03-01,2026-03-31,"12,50",
        BAD-CUSTOMER,NOPE,2026-03-01,2026-03-31,10.00,
        ,C-DE,2026-03-01,2026-03-31,10.00,
        SHORT,C-DE,2026-03-01,2026-03-31,10.00
        NEW-1,C-DE,2026-03-02,2026-04-01,11.00,
        DUE-EARLY,C-DE,2026-03-10,2026-03-09,10.00,
        BAD-US-DATE,C-DE,3/1/2026,2026-03-31,10.00,
        ZERO,C-DE,2026-03-01,2026-03-31,0,
        BAD-CURRENCY,C-DE,2026-03-01,2026-03-31,10.00,XYZ

        INV-1,C-DE,2026-01-05,2026-02-04,999.00,
        NEW-2,C-DE,2026-03-01,2026-03-31,10.00,
        """,
    )

    report = await import_csv(engine, "invoices", path)

    assert not report.ok
    expected = [
        (3, "bad date in issue_date: '2026-13-01'"),
        (4, "bad amount in amount: '12,50'"),
        (5, "unknown customer 'NOPE'"),
        (6, "missing required value 'number'"),
        (7, "expected 6 fields, found 5"),
        (8, "duplicate invoice 'NEW-1' in this file (first on line 2)"),
        (9, "due_date 2026-03-09 is before issue_date 2026-03-10"),
        (10, "bad date in issue_date: '3/1/2026'"),
        (11, "must be greater than 0"),
        (12, "unknown currency: 'XYZ'"),
    ]
    assert [e.line for e in report.errors] == [line for line, _ in expected]
    for error, (line, fragment) in zip(report.errors, expected, strict=True):
        assert fragment in error.reason, (line, error.reason)
    assert report.rows == 13
    # Nothing of the file is in: not NEW-1/NEW-2, not the change to INV-1, no event.
    assert await snapshot(engine) == before


BAD_HEADERS = [
    ("number,customer_external_id,issue_date,amount", "missing required column 'due_date'"),
    (f"{HEADER},note", "unknown column 'note'"),
    ("numbr,customer_external_id,issue_date,due_date,amount", "unknown column 'numbr'"),
]


async def test_invoices_file_with_bad_header_imports_nothing(engine, customers, tmp_path) -> None:
    before = await snapshot(engine)
    for n, (header, reason) in enumerate(BAD_HEADERS):
        width = len(header.split(","))
        path = write_csv(tmp_path / f"i{n}.csv", f"{header}\n{','.join(['x'] * width)}\n")

        report = await import_csv(engine, "invoices", path)

        assert report.errors, "a bad header must refuse the file"
        assert all(e.line == 1 for e in report.errors)
        assert any(reason in e.reason for e in report.errors), report.errors
        assert await snapshot(engine) == before


async def test_invoices_dry_run_reports_like_an_import_and_writes_nothing(
    engine, customers, invoices_csv, tmp_path
) -> None:
    before = await snapshot(engine)

    dry = await import_csv(engine, "invoices", invoices_csv, dry_run=True)

    assert dry.ok and dry.dry_run
    assert (dry.rows, dry.inserted, dry.updated) == (3, 3, 0)
    assert await snapshot(engine) == before
    real = await import_ok(engine, "invoices", invoices_csv)
    assert (real.rows, real.inserted, real.updated) == (3, 3, 0)

    # A dry run over a bad file reports the same errors as the real thing.
    bad = write_csv(tmp_path / "bad.csv", f"{HEADER}\nINV-9,NOPE,2026-01-01,2026-01-31,1,\n")
    dry_bad = await import_csv(engine, "invoices", bad, dry_run=True)
    real_bad = await import_csv(engine, "invoices", bad)
    assert dry_bad.errors == real_bad.errors
    assert [e.line for e in dry_bad.errors] == [2]


# -- re-importing invoices after payments (see the comment in _merge_invoices) ------------


async def _pay(engine, tmp_path: Path, rows: str) -> None:
    path = write_csv(tmp_path / "payments.csv", "invoice_number,paid_at,amount,reference\n" + rows)
    await import_ok(engine, "payments", path)


async def test_invoices_reimport_without_open_amount_keeps_a_part_payment(
    engine, customers, invoices_csv, tmp_path
) -> None:
    await import_ok(engine, "invoices", invoices_csv)
    await _pay(engine, tmp_path, "INV-1,2026-02-01,40.00,\n")
    assert (await invoice(engine, "INV-1"))["open_amount"] == Decimal(60)

    await import_ok(engine, "invoices", invoices_csv)

    inv = await invoice(engine, "INV-1")
    assert (inv["open_amount"], inv["status"], inv["paid_at"]) == (Decimal(60), "open", None)
    assert (await invoice(engine, "INV-2"))["open_amount"] == Decimal("250.5")  # no payments


async def test_invoices_reimport_without_open_amount_keeps_a_full_payment(
    engine, customers, invoices_csv, tmp_path
) -> None:
    await import_ok(engine, "invoices", invoices_csv)
    await _pay(engine, tmp_path, "INV-1,2026-01-20,30,R1\nINV-1,2026-02-01,70,R2\n")

    await import_ok(engine, "invoices", invoices_csv)

    inv = await invoice(engine, "INV-1")
    assert (inv["open_amount"], inv["status"]) == (Decimal(0), "paid")
    assert inv["paid_at"] == date(2026, 2, 1)
    assert len(await payments(engine, "INV-1")) == 2


async def test_invoices_reimport_with_a_new_amount_subtracts_the_payments_again(
    engine, customers, invoices_csv, tmp_path
) -> None:
    await import_ok(engine, "invoices", invoices_csv)
    await _pay(engine, tmp_path, "INV-1,2026-02-01,100,\n")
    assert (await invoice(engine, "INV-1"))["status"] == "paid"
    raised = write_csv(
        tmp_path / "raised.csv", f"{HEADER}\nINV-1,C-DE,2026-01-05,2026-02-04,130,\n"
    )

    await import_ok(engine, "invoices", raised)

    inv = await invoice(engine, "INV-1")
    assert (inv["amount"], inv["open_amount"]) == (Decimal(130), Decimal(30))
    assert (inv["status"], inv["paid_at"]) == ("open", None)


async def test_invoices_reimport_with_explicit_open_amount_overrides_payments(
    engine, customers, invoices_csv, tmp_path
) -> None:
    await import_ok(engine, "invoices", invoices_csv)
    await _pay(engine, tmp_path, "INV-1,2026-02-01,40,\n")
    path = write_csv(
        tmp_path / "open.csv",
        """
        number,customer_external_id,issue_date,due_date,amount,open_amount
        INV-1,C-DE,2026-01-05,2026-02-04,100,25
        """,
    )

    await import_ok(engine, "invoices", path)

    assert (await invoice(engine, "INV-1"))["open_amount"] == Decimal(25)


# -- the formats of SPEC section 7: ISO dates, dot-decimal amounts ------------------------


def _one_field_per_row(column: str, values: list[str]) -> str:
    """An invoices file whose row n+2 has values[n] in `column` and good values elsewhere."""
    good = {
        "customer_external_id": "C-DE",
        "issue_date": "2026-01-05",
        "due_date": "2026-02-04",
        "amount": "10.00",
    }
    lines = ["number," + ",".join(good)]
    for n, value in enumerate(values):
        fields = {**good, column: value}
        lines.append(f"INV-{n}," + ",".join(f'"{v}"' for v in fields.values()))
    return "\n".join(lines) + "\n"


BAD_DATES = {
    "issue_date": ["2026/01/05", "05.01.2026", "1/5/2026", "2026-1-5", "20260105", "2026-02-30"],
    "due_date": ["2026-02-04T00:00", "2026-02-04 00:00:00", "tomorrow"],
}
BAD_AMOUNTS = ["1,000.00", "1 000.00", "1e3", "NaN", "Infinity", "12.34567", "$12.00", "-12.00"]


@pytest.mark.parametrize("column", ["issue_date", "due_date", "amount"])
async def test_invoice_dates_and_amounts_outside_the_spec_format_are_bad_rows(
    engine, customers, tmp_path, column
) -> None:
    values = BAD_AMOUNTS if column == "amount" else BAD_DATES[column]
    path = write_csv(tmp_path / "i.csv", _one_field_per_row(column, values))

    report = await import_csv(engine, "invoices", path)

    assert [e.line for e in report.errors] == list(range(2, len(values) + 2)), report.errors
    what = "amount" if column == "amount" else "date"
    for error, value in zip(report.errors, values, strict=True):
        assert error.reason.startswith(f"bad {what} in {column}: {value!r}"), error
    assert (await counts(engine))["invoices"] == 0


async def test_invoice_dates_in_other_iso_forms_are_bad_rows(engine, customers, tmp_path) -> None:
    path = write_csv(
        tmp_path / "i.csv", _one_field_per_row("issue_date", ["2026-W02-1", "2026010599"])
    )

    report = await import_csv(engine, "invoices", path)

    assert [e.line for e in report.errors] == [2, 3], report.errors


async def test_invoice_amounts_with_underscores_or_non_ascii_digits_are_bad_rows(
    engine, customers, tmp_path
) -> None:
    path = write_csv(tmp_path / "i.csv", _one_field_per_row("amount", ["1_000", "١٢٣.٥٠", "１２"]))

    report = await import_csv(engine, "invoices", path)

    assert [e.line for e in report.errors] == [2, 3, 4], report.errors


async def test_invoice_amounts_in_the_spec_format_are_stored_exactly(
    engine, customers, tmp_path
) -> None:
    cases = {
        "12": "12",
        "12.5": "12.50",
        "12.": "12",
        ".5": "0.5",
        "0012.3400": "12.34",
        "0.0001": "0.0001",
        "99999999999999.9999": "99999999999999.9999",
    }
    path = write_csv(tmp_path / "i.csv", _one_field_per_row("amount", list(cases)))

    await import_ok(engine, "invoices", path)

    stored = await invoices(engine)
    assert [stored[f"INV-{n}"]["amount"] for n in range(len(cases))] == [
        Decimal(v) for v in cases.values()
    ]


async def test_header_names_are_matched_case_insensitively(engine, customers, tmp_path) -> None:
    path = write_csv(
        tmp_path / "i.csv",
        "Number,Customer_External_ID,Issue_Date,DUE_DATE,Amount\nI1,C-DE,2026-01-01,2026-01-31,5\n",
    )
    report = await import_csv(engine, "invoices", path)
    assert report.ok, report.errors
    assert report.inserted == 1
