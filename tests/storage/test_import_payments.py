"""Importing payments.csv: open amounts move once per payment, overpayments become credit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from storage.importers import import_csv
from tests.helpers.db import counts, import_ok, invoice, payments, snapshot, write_csv

HEADER = "invoice_number,paid_at,amount,reference"


@pytest.fixture
async def ledger(engine, tmp_path: Path) -> None:
    """INV-1 (100 EUR), INV-2 (250.50 EUR), INV-3 (80 USD), all open."""
    await import_ok(
        engine,
        "customers",
        write_csv(tmp_path / "c.csv", "external_id,name,country\nC-DE,Zoë Café,DE\nC-US,Acme,\n"),
    )
    await import_ok(
        engine,
        "invoices",
        write_csv(
            tmp_path / "i.csv",
            """
            number,customer_external_id,issue_date,due_date,amount
            INV-1,C-DE,2026-01-05,2026-02-04,100.00
            INV-2,C-DE,2026-01-06,2026-02-05,250.50
            INV-3,C-US,2026-01-07,2026-02-06,80
            """,
        ),
    )


def _payments_csv(tmp_path: Path, rows: str, name: str = "payments.csv") -> Path:
    return write_csv(tmp_path / name, f"{HEADER}\n{rows}")


async def test_part_payment_lowers_open_amount_and_keeps_the_invoice_open(
    engine, ledger, tmp_path
) -> None:
    report = await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-01,40,\n"))

    assert (report.rows, report.inserted, report.updated) == (1, 1, 0)
    assert report.overpayments == []
    inv = await invoice(engine, "INV-1")
    assert (inv["open_amount"], inv["status"], inv["paid_at"]) == (Decimal(60), "open", None)
    (pay,) = await payments(engine, "INV-1")
    assert (pay["paid_at"], pay["amount"], pay["reference"]) == (
        date(2026, 2, 1),
        Decimal(40),
        None,
    )


async def test_full_payment_marks_the_invoice_paid_on_the_payment_date(
    engine, ledger, tmp_path
) -> None:
    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-2,2026-02-03,250.50,TX-7\n"))

    inv = await invoice(engine, "INV-2")
    assert (inv["open_amount"], inv["status"]) == (Decimal(0), "paid")
    assert inv["paid_at"] == date(2026, 2, 3)


async def test_payments_in_instalments_settle_on_the_last_date(engine, ledger, tmp_path) -> None:
    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-01-20,30,\n", "a.csv"))
    assert (await invoice(engine, "INV-1"))["status"] == "open"

    await import_ok(
        engine,
        "payments",
        _payments_csv(tmp_path, "INV-1,2026-02-10,50,\nINV-1,2026-02-01,20,\n", "b.csv"),
    )

    inv = await invoice(engine, "INV-1")
    assert (inv["open_amount"], inv["status"], inv["paid_at"]) == (
        Decimal(0),
        "paid",
        date(2026, 2, 10),
    )
    assert len(await payments(engine, "INV-1")) == 3


async def test_overpayment_is_accepted_and_reported_as_credit(engine, ledger, tmp_path) -> None:
    report = await import_ok(
        engine,
        "payments",
        _payments_csv(tmp_path, "INV-1,2026-02-01,150.25,\nINV-3,2026-02-02,80.01,\n"),
    )

    assert report.overpayments == [
        ("INV-1", Decimal("50.25"), "EUR"),
        ("INV-3", Decimal("0.01"), "USD"),
    ]
    assert all(isinstance(credit, Decimal) for _, credit, _ in report.overpayments)
    assert "2 overpaid invoice(s) recorded as credit" in report.summary()
    inv = await invoice(engine, "INV-1")
    assert inv["open_amount"] == Decimal("-50.25")  # below zero: a credit
    assert (inv["status"], inv["paid_at"]) == ("paid", date(2026, 2, 1))

    # Seen again, the same payments are no new overpayment, and the credit stays as it is.
    again = await import_ok(engine, "payments", tmp_path / "payments.csv")
    assert again.overpayments == []
    assert (await invoice(engine, "INV-1"))["open_amount"] == Decimal("-50.25")


async def test_payment_for_an_unknown_invoice_is_a_bad_row(engine, ledger, tmp_path) -> None:
    before = await snapshot(engine)
    path = _payments_csv(tmp_path, "INV-1,2026-02-01,40,\nINV-404,2026-02-01,40,\n")

    report = await import_csv(engine, "payments", path)

    assert [(e.line, e.reason) for e in report.errors] == [(3, "unknown invoice 'INV-404'")]
    assert await snapshot(engine) == before  # INV-1's payment is not recorded either


async def test_payments_reimported_twice_do_not_reduce_open_amounts_twice(
    engine, ledger, tmp_path
) -> None:
    path = _payments_csv(
        tmp_path, "INV-1,2026-02-01,40,\nINV-2,2026-02-02,100,REF-9\nINV-3,2026-02-03,80,\n"
    )
    await import_ok(engine, "payments", path)
    first = await snapshot(engine, ignore=("updated_at",))

    again = await import_ok(engine, "payments", path)

    assert (again.rows, again.inserted, again.updated) == (3, 0, 3)
    assert "0 new, 3 updated" in again.summary()
    second = await snapshot(engine, ignore=("updated_at",))
    assert second["payments"] == first["payments"]
    assert second["invoices"] == first["invoices"]
    assert (await invoice(engine, "INV-1"))["open_amount"] == Decimal(60)
    assert (await invoice(engine, "INV-2"))["open_amount"] == Decimal("150.50")


async def test_payment_with_a_reference_is_updated_by_a_changed_row(
    engine, ledger, tmp_path
) -> None:
    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-01,40,TX-1\n", "a"))

    report = await import_ok(
        engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-01,70,TX-1\n", "b")
    )

    assert (report.inserted, report.updated) == (0, 1)
    (pay,) = await payments(engine, "INV-1")
    assert (pay["amount"], pay["reference"]) == (Decimal(70), "TX-1")
    # Moved by the difference only: 100 - 70, not 100 - 40 - 70.
    assert (await invoice(engine, "INV-1"))["open_amount"] == Decimal(30)


async def test_payment_with_a_reference_lowered_reopens_a_paid_invoice(
    engine, ledger, tmp_path
) -> None:
    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-01,100,TX-1\n", "a"))
    assert (await invoice(engine, "INV-1"))["status"] == "paid"

    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-01,90,TX-1\n", "b"))

    inv = await invoice(engine, "INV-1")
    assert (inv["open_amount"], inv["status"], inv["paid_at"]) == (Decimal(10), "open", None)


async def test_payment_with_a_reference_moved_to_another_date_moves_the_paid_date(
    engine, ledger, tmp_path
) -> None:
    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-01,100,TX-1\n", "a"))

    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-05,100,TX-1\n", "b"))

    (pay,) = await payments(engine, "INV-1")
    assert pay["paid_at"] == date(2026, 2, 5)
    assert (await invoice(engine, "INV-1"))["paid_at"] == date(2026, 2, 5)


async def test_payment_without_reference_is_known_by_invoice_date_and_amount(
    engine, ledger, tmp_path
) -> None:
    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-1,2026-02-01,40,\n", "a"))

    # The same payment written differently (40.00, no reference column) is the same payment.
    same = write_csv(tmp_path / "b.csv", "invoice_number,paid_at,amount\nINV-1,2026-02-01,40.00\n")
    report = await import_ok(engine, "payments", same)

    assert (report.inserted, report.updated) == (0, 1)
    assert len(await payments(engine, "INV-1")) == 1
    assert (await invoice(engine, "INV-1"))["open_amount"] == Decimal(60)

    # Another date or amount without a reference is another payment.
    other = _payments_csv(tmp_path, "INV-1,2026-02-02,40,\nINV-1,2026-02-01,10,\n", "c")
    report = await import_ok(engine, "payments", other)

    assert (report.inserted, report.updated) == (2, 0)
    assert len(await payments(engine, "INV-1")) == 3
    assert (await invoice(engine, "INV-1"))["open_amount"] == Decimal(10)


async def test_one_reference_may_settle_several_invoices(engine, ledger, tmp_path) -> None:
    path = _payments_csv(tmp_path, "INV-1,2026-02-01,100,BATCH-1\nINV-3,2026-02-01,80,BATCH-1\n")

    report = await import_ok(engine, "payments", path)

    assert report.inserted == 2
    assert (await invoice(engine, "INV-1"))["status"] == "paid"
    assert (await invoice(engine, "INV-3"))["status"] == "paid"


async def test_payments_file_with_bad_rows_imports_nothing_and_lists_each(
    engine, ledger, tmp_path
) -> None:
    await import_ok(engine, "payments", _payments_csv(tmp_path, "INV-2,2026-02-01,50,OLD\n", "ok"))
    before = await snapshot(engine)
    path = _payments_csv(
        tmp_path,
        """INV-1,2026-02-01,40,GOOD-1
INV-404,2026-02-01,40,
INV-1,01/02/2026,40,
INV-1,2026-02-01,abc,
INV-1,2026-02-01,-5,
INV-1,,40,
INV-1,2026-02-01,40,GOOD-1
INV-1,2026-02-01,40
INV-1,2026-02-01,1.23456,
INV-3,2026-02-01,10,
INV-3,2026-02-01,10.00,
INV-2,2026-02-01,60,OLD
""",
        "bad.csv",
    )

    report = await import_csv(engine, "payments", path)

    expected = [
        (3, "unknown invoice 'INV-404'"),
        (4, "bad date in paid_at: '01/02/2026'"),
        (5, "bad amount in amount: 'abc'"),
        (6, "bad amount in amount: '-5'"),
        (7, "missing required value 'paid_at'"),
        (8, "duplicate payment for invoice 'INV-1' in this file (first on line 2)"),
        (9, "expected 4 fields, found 3"),
        (10, "more than 4 decimals"),
        (12, "duplicate payment for invoice 'INV-3' in this file (first on line 11)"),
    ]
    assert [e.line for e in report.errors] == [line for line, _ in expected]
    for error, (line, fragment) in zip(report.errors, expected, strict=True):
        assert fragment in error.reason, (line, error.reason)
    assert report.overpayments == []
    assert await snapshot(engine) == before


async def test_payments_dry_run_reports_overpayments_and_writes_nothing(
    engine, ledger, tmp_path
) -> None:
    path = _payments_csv(tmp_path, "INV-1,2026-02-01,120,\nINV-2,2026-02-01,50,\n")
    before = await snapshot(engine)

    dry = await import_csv(engine, "payments", path, dry_run=True)

    assert dry.ok and dry.dry_run
    assert (dry.rows, dry.inserted, dry.updated) == (2, 2, 0)
    assert dry.overpayments == [("INV-1", Decimal(20), "EUR")]
    assert await snapshot(engine) == before
    real = await import_ok(engine, "payments", path)
    assert (real.rows, real.inserted, real.updated, real.overpayments) == (
        dry.rows,
        dry.inserted,
        dry.updated,
        dry.overpayments,
    )
    assert (await counts(engine))["payments"] == 2
