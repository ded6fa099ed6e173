"""Seeded CSV files in the import format, generated once per size and cached.

Files are named by everything that shapes them (kind, size, seed, generator version),
so a cached file is always the file this code would write. Bump `VERSION` when the
generator changes.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

from storage.import_rows import CUSTOMER_COLUMNS, INVOICE_COLUMNS

VERSION = 1
SEED = 20_260_101

# (country, IANA zone, language) for generated customers.
_PLACES = (
    ("US", "America/New_York", "en"),
    ("US", "America/Los_Angeles", "en"),
    ("GB", "Europe/London", "en"),
    ("FR", "Europe/Paris", "fr"),
    ("DE", "Europe/Berlin", "de"),
    ("BR", "America/Sao_Paulo", "pt-BR"),
    ("JP", "Asia/Tokyo", "ja"),
    ("CA", "America/Toronto", "en"),
    ("AU", "Australia/Sydney", "en"),
    ("NL", "Europe/Amsterdam", "nl"),
)
_CUSTOMER_HEADER = ("external_id", "name", "email", "timezone", "country", "language")
_INVOICE_HEADER = (
    "number", "customer_external_id", "issue_date", "due_date", "amount", "currency",
    "open_amount",
)  # fmt: skip
Row = tuple[str, ...]

assert set(_CUSTOMER_HEADER) <= set(CUSTOMER_COLUMNS.all)
assert set(_INVOICE_HEADER) == set(INVOICE_COLUMNS.all)


def customer_id(i: int) -> str:
    """The external id of generated customer `i`."""
    return f"CUST-{i:06d}"


def _write_atomically(path: Path, header: tuple[str, ...], rows: Iterable[Row]) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def customers_csv(data_dir: Path, count: int, seed: int = SEED) -> Path:
    """customers.csv with `count` customers (cached)."""
    path = data_dir / f"customers-{count}-s{seed}-v{VERSION}.csv"
    if path.exists():
        return path
    rng = random.Random(seed)

    def rows() -> Iterator[Row]:
        for i in range(count):
            country, zone, language = rng.choice(_PLACES)
            yield (
                customer_id(i),
                f"Customer {i} Ltd",
                f"ap{i}@customer{i}.example.com",
                zone,
                country,
                language,
            )

    _write_atomically(path, _CUSTOMER_HEADER, rows())
    return path


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def invoices_csv(data_dir: Path, count: int, customers: int, seed: int = SEED) -> Path:
    """invoices.csv with `count` invoices over `customers` customers (cached).

    Numbers ascend (as a ledger export would); customers, dates and amounts are random.
    About 80% of rows leave currency blank (the customer's applies), and open_amount
    is a mix of blank, 0 (paid), the full amount and a part of it.
    """
    path = data_dir / f"invoices-{count}-c{customers}-s{seed}-v{VERSION}.csv"
    if path.exists():
        return path
    rng = random.Random(seed + 1)
    start = date(2024, 1, 1)
    days = [(start + timedelta(d)).isoformat() for d in range(730 + 90)]
    terms = (0, 15, 30, 30, 30, 45, 60)
    currencies = ("", "", "", "", "", "", "", "", "USD", "EUR")

    def rows() -> Iterator[Row]:
        for i in range(count):
            issued = rng.randrange(730)
            cents = rng.randrange(1_000, 5_000_000)
            pick = rng.random()
            if pick < 0.4:
                open_amount = ""
            elif pick < 0.7:
                open_amount = "0.00"
            elif pick < 0.9:
                open_amount = _amount(cents)
            else:
                open_amount = _amount(rng.randrange(1, cents))
            yield (
                f"INV-{i:08d}",
                customer_id(rng.randrange(customers)),
                days[issued],
                days[issued + rng.choice(terms)],
                _amount(cents),
                rng.choice(currencies),
                open_amount,
            )

    _write_atomically(path, _INVOICE_HEADER, rows())
    return path
