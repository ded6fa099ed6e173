"""Turn the IBM Accounts Receivable sample (and its variant) into ARSeq's three CSV formats.

The source files in /work/shared/testdata are read only and never modified: the
converted customers, invoices and payments files are written to a directory the
caller gives (a pytest tmp_path). See /work/shared/testdata/SOURCES.md.

Mapping (SPEC section 7):
- customers: external_id = name = customerID; country blank (countryCode is a
  numeric code, not ISO 3166).
- invoices: number = invoiceNumber as text (leading zeros kept), issue/due dates
  from InvoiceDate/DueDate (M/D/YYYY -> ISO), amount = InvoiceAmount as written,
  currency USD.
- payments: invoice_number, paid_at = SettledDate, amount = InvoiceAmount, blank
  reference.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

IBM_FILE = "ar_ibm.csv"
IBM_VARIANT_FILE = "ar_ibm_variant_with_missing.csv"


@dataclass(frozen=True)
class IbmRow:
    """One invoice of the IBM file, with the values the converter writes."""

    line: int
    customer_id: str
    invoice_number: str
    issue_date: date
    due_date: date
    amount_text: str
    settled_date: date

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_text)


@dataclass(frozen=True)
class IbmCsvs:
    """The three converted files and the rows they came from."""

    customers: Path
    invoices: Path
    payments: Path
    rows: tuple[IbmRow, ...]

    @property
    def customer_ids(self) -> list[str]:
        return sorted({r.customer_id for r in self.rows})

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal(0))


def us_date(text: str) -> date:
    """`M/D/YYYY` (no zero padding, as in the IBM file) -> date."""
    month, day, year = (int(part) for part in text.strip().split("/"))
    return date(year, month, day)


def read_ibm(source: Path) -> tuple[IbmRow, ...]:
    """The rows of an IBM-format file, in file order (line 1 is the header)."""
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return tuple(
            IbmRow(
                line=reader.line_num,
                customer_id=row["customerID"].strip(),
                invoice_number=row["invoiceNumber"].strip(),
                issue_date=us_date(row["InvoiceDate"]),
                due_date=us_date(row["DueDate"]),
                amount_text=row["InvoiceAmount"].strip(),
                settled_date=us_date(row["SettledDate"]),
            )
            for row in reader
        )


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_ibm_csvs(source: Path, out_dir: Path) -> IbmCsvs:
    """Convert an IBM-format file into customers/invoices/payments CSVs in `out_dir`."""
    rows = read_ibm(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = source.stem
    customers = _write(
        out_dir / f"{stem}_customers.csv",
        ["external_id", "name", "country"],
        [[cid, cid, ""] for cid in sorted({r.customer_id for r in rows})],
    )
    invoices = _write(
        out_dir / f"{stem}_invoices.csv",
        ["number", "customer_external_id", "issue_date", "due_date", "amount", "currency"],
        [
            [
                r.invoice_number,
                r.customer_id,
                r.issue_date.isoformat(),
                r.due_date.isoformat(),
                r.amount_text,
                "USD",
            ]
            for r in rows
        ],
    )
    payments = _write(
        out_dir / f"{stem}_payments.csv",
        ["invoice_number", "paid_at", "amount", "reference"],
        [[r.invoice_number, r.settled_date.isoformat(), r.amount_text, ""] for r in rows],
    )
    return IbmCsvs(customers=customers, invoices=invoices, payments=payments, rows=rows)
