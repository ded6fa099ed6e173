"""The IBM Accounts Receivable sample and its messy variant go through the importer whole.

The IBM files are converted to our three CSV formats by tests/helpers/ibm.py (the
originals are read only). Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.models import Invoice, Payment
from tests.helpers.db import counts, import_ok, invoices, payments
from tests.helpers.ibm import IBM_FILE, IBM_VARIANT_FILE, IbmCsvs, write_ibm_csvs

IBM_ROWS = 2_466
IBM_CUSTOMERS = 100
IBM_TOTAL = Decimal("147703.18")
VARIANT_ROWS = 2_586
IBM_SHA256 = "f5d488eaa4c1cc843b478b6f1068c553c5394aab4b64d587e4b9ad811d845c19"
VARIANT_TOTAL = Decimal("155658.78")


@pytest.fixture
def ibm(testdata: Path, tmp_path: Path) -> IbmCsvs:
    return write_ibm_csvs(testdata / IBM_FILE, tmp_path / "ibm")


@pytest.fixture
def variant(testdata: Path, tmp_path: Path) -> IbmCsvs:
    return write_ibm_csvs(testdata / IBM_VARIANT_FILE, tmp_path / "variant")


async def _import_all(engine, csvs: IbmCsvs) -> tuple:
    return (
        await import_ok(engine, "customers", csvs.customers),
        await import_ok(engine, "invoices", csvs.invoices),
        await import_ok(engine, "payments", csvs.payments),
    )


async def _total_amount(engine, column=Invoice.amount) -> Decimal:
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.sum(column)))).scalar_one()
    assert isinstance(total, Decimal)
    return total


def test_ibm_conversion_matches_the_documented_facts(testdata: Path, ibm: IbmCsvs) -> None:
    # Guards the helper itself against SOURCES.md, so a wrong conversion cannot pass
    # the database tests below by accident; the source file is left byte for byte.
    assert hashlib.sha256((testdata / IBM_FILE).read_bytes()).hexdigest() == IBM_SHA256
    assert len(ibm.rows) == IBM_ROWS
    assert len(ibm.customer_ids) == IBM_CUSTOMERS
    assert ibm.total == IBM_TOTAL
    assert all(len(r.invoice_number) == 10 for r in ibm.rows)
    assert all((r.due_date - r.issue_date).days == 30 for r in ibm.rows)
    assert ibm.rows[0].invoice_number == "0000611365"


async def test_ibm_sample_imports_every_customer_invoice_and_payment(engine, ibm) -> None:
    cust, inv, pay = await _import_all(engine, ibm)

    assert (cust.rows, cust.inserted, cust.updated) == (IBM_CUSTOMERS, IBM_CUSTOMERS, 0)
    assert (inv.rows, inv.inserted, inv.updated) == (IBM_ROWS, IBM_ROWS, 0)
    assert (pay.rows, pay.inserted, pay.updated) == (IBM_ROWS, IBM_ROWS, 0)
    assert pay.overpayments == []
    n = await counts(engine)
    assert (n["customers"], n["invoices"], n["payments"]) == (IBM_CUSTOMERS, IBM_ROWS, IBM_ROWS)
    assert await _total_amount(engine) == IBM_TOTAL
    assert await _total_amount(engine, Payment.amount) == IBM_TOTAL


async def test_ibm_sample_leaves_every_invoice_paid_on_its_settled_date(engine, ibm) -> None:
    await _import_all(engine, ibm)

    stored = await invoices(engine)
    assert len(stored) == IBM_ROWS
    for row in ibm.rows:
        inv = stored[row.invoice_number]
        assert inv["amount"] == row.amount, row
        assert inv["open_amount"] == Decimal(0), row
        assert inv["status"] == "paid", row
        assert inv["paid_at"] == row.settled_date, row
        assert inv["issue_date"] == row.issue_date, row
        assert inv["due_date"] == row.due_date, row
        assert inv["currency"] == "USD", row
    paid = await payments(engine)
    assert sorted((p["number"], p["paid_at"], p["amount"]) for p in paid) == sorted(
        (r.invoice_number, r.settled_date, r.amount) for r in ibm.rows
    )


async def test_ibm_sample_keeps_leading_zeros_of_invoice_numbers(engine, ibm) -> None:
    await import_ok(engine, "customers", ibm.customers)
    await import_ok(engine, "invoices", ibm.invoices)

    stored = await invoices(engine)
    assert "0000611365" in stored
    assert "611365" not in stored
    assert set(stored) == {r.invoice_number for r in ibm.rows}
    assert all(len(number) == 10 for number in stored)


async def test_ibm_sample_reimported_whole_changes_nothing(engine, ibm) -> None:
    await _import_all(engine, ibm)
    before = await invoices(engine)

    cust, inv, pay = await _import_all(engine, ibm)

    assert (cust.inserted, cust.updated) == (0, IBM_CUSTOMERS)
    assert (inv.inserted, inv.updated) == (0, IBM_ROWS)
    assert (pay.inserted, pay.updated) == (0, IBM_ROWS)
    n = await counts(engine)
    assert (n["customers"], n["invoices"], n["payments"]) == (IBM_CUSTOMERS, IBM_ROWS, IBM_ROWS)
    after = await invoices(engine)
    assert {k: (v["open_amount"], v["status"], v["paid_at"]) for k, v in after.items()} == {
        k: (v["open_amount"], v["status"], v["paid_at"]) for k, v in before.items()
    }


async def test_ibm_variant_with_blanks_unpadded_ids_and_dot_zero_amounts_imports_whole(
    engine, variant
) -> None:
    assert len(variant.rows) == VARIANT_ROWS
    dot_zero = [r for r in variant.rows if r.amount_text.endswith(".0")]
    assert dot_zero, "the variant should contain amounts written like 38.0"

    cust, inv, pay = await _import_all(engine, variant)

    assert (cust.rows, inv.rows, pay.rows) == (IBM_CUSTOMERS, VARIANT_ROWS, VARIANT_ROWS)
    assert (inv.inserted, pay.inserted) == (VARIANT_ROWS, VARIANT_ROWS)
    n = await counts(engine)
    assert (n["customers"], n["invoices"], n["payments"]) == (
        IBM_CUSTOMERS,
        VARIANT_ROWS,
        VARIANT_ROWS,
    )
    assert await _total_amount(engine) == VARIANT_TOTAL
    stored = await invoices(engine)
    # `38.0` in the file is the amount 38, exactly.
    assert stored["263678657"]["amount"] == Decimal(38)
    for row in dot_zero:
        assert stored[row.invoice_number]["amount"] == Decimal(row.amount_text.removesuffix(".0"))
    # Unpadded numbers are stored as written, not re-padded.
    assert "0263678657" not in stored
    assert all(inv["open_amount"] == 0 and inv["status"] == "paid" for inv in stored.values())
