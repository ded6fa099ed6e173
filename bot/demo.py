"""`arseq demo`: ARSeq on embedded defaults, with no account anywhere.

Today this is the placeholder scenario of the foundation: a generated sample ledger is
written as CSV, imported through the real importer into a fresh SQLite database, and
summarised. The simulated period with sequences, channels and the digest comes with
the demo issue (#7); `--days` already sets how far the sample ledger reaches back.
"""

from __future__ import annotations

import csv
import random
import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from storage.db import open_engine
from storage.import_rows import CUSTOMER_COLUMNS, INVOICE_COLUMNS, PAYMENT_COLUMNS
from storage.importers import import_csv
from storage.migrate import upgrade
from storage.models import Customer, Invoice

_PLACES = [
    ("US", "America/New_York", "en-US"),
    ("US", "America/Los_Angeles", "en-US"),
    ("GB", "Europe/London", "en-GB"),
    ("DE", "Europe/Berlin", "de-DE"),
    ("FR", "Europe/Paris", "fr-FR"),
    ("JP", "Asia/Tokyo", "ja-JP"),
]
_NAMES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Cyberdyne",
    "Gringotts",
    "Aperture",
    "Oscorp",
]
_SUFFIX = {"US": "Inc.", "GB": "Ltd", "DE": "GmbH", "FR": "SARL", "JP": "K.K."}


def write_sample_ledger(folder: Path, *, seed: int, days: int, today: date) -> dict[str, Path]:
    """Write customers.csv, invoices.csv and payments.csv of a small, plausible ledger."""
    rng = random.Random(seed)
    customers, invoices, payments = [], [], []
    for n in range(1, 25):
        country, zone, language = rng.choice(_PLACES)
        name = f"{rng.choice(_NAMES)} {_SUFFIX[country]} {n:02d}"
        ext = f"CUST-{n:04d}"
        customers.append([ext, name, f"ap{n}@example.com", zone, country, language, "", ""])
        lateness = rng.choice([0, 0, 5, 20, 45, None])  # None: never pays
        for k in range(rng.randint(2, 8)):
            issued = today - timedelta(days=rng.randint(0, days))
            due = issued + timedelta(days=30)
            amount = Decimal(rng.randint(20_000, 2_500_000)) / 100
            number = f"INV-{n:04d}-{k:02d}"
            invoices.append([number, ext, issued.isoformat(), due.isoformat(), f"{amount}", "", ""])
            if lateness is None:
                continue
            paid = due + timedelta(days=lateness + rng.randint(-3, 3))
            if paid <= today:
                part = amount if rng.random() > 0.15 else (amount / 2).quantize(Decimal("0.01"))
                payments.append([number, paid.isoformat(), f"{part}", f"PAY-{number}"])
    files = {
        "customers": (CUSTOMER_COLUMNS.all, customers),
        "invoices": (INVOICE_COLUMNS.all, invoices),
        "payments": (PAYMENT_COLUMNS.all, payments),
    }
    paths = {}
    for kind, (header, data) in files.items():
        path = folder / f"{kind}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(data)
        paths[kind] = path
    return paths


async def run_demo(
    *, days: int, seed: int, db: Path | None, console: Console | None = None
) -> None:
    """Build the sample ledger, import it, and print what the AR team is owed."""
    console = console or Console()
    folder = Path(tempfile.mkdtemp(prefix="arseq-demo-")) if db is None else db.parent
    db_path = db or folder / "demo.db"
    today = datetime.now(UTC).date()
    console.print(f"[bold]ARSeq demo[/] (placeholder scenario until issue #7): {folder}")
    paths = write_sample_ledger(folder, seed=seed, days=days, today=today)
    async with open_engine(f"sqlite+aiosqlite:///{db_path}") as engine:
        await upgrade(engine)
        for kind, path in paths.items():
            report = await import_csv(engine, kind, path, actor="demo")
            console.print(f"  {report.summary()}")
            if not report.ok:
                raise RuntimeError(f"sample {kind} did not import: {report.errors[0]}")
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Invoice.currency, Invoice.due_date, Invoice.open_amount).where(
                    Invoice.open_amount > 0
                )
            )
            totals: dict[str, dict[str, Decimal]] = defaultdict(
                lambda: {"open": Decimal(0), "overdue": Decimal(0)}
            )
            for currency, due, open_amount in rows:
                totals[currency]["open"] += open_amount
                if due < today:
                    totals[currency]["overdue"] += open_amount
            customers = (await conn.execute(select(func.count()).select_from(Customer))).scalar()
    table = Table(title=f"Open receivables as of {today} ({customers} customers)")
    table.add_column("currency")
    table.add_column("open", justify="right")
    table.add_column("overdue", justify="right")
    for currency in sorted(totals):
        table.add_row(
            currency, f"{totals[currency]['open']:,.2f}", f"{totals[currency]['overdue']:,.2f}"
        )
    console.print(table)
    console.print(f"Database: {db_path}")
