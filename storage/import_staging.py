"""Reading a CSV file into a temporary staging table, and the checks run over it.

Rows are parsed by position and written in batches with driver-level inserts while
the next batch is parsed. Checks that need the whole file or the database (a key seen
twice, an unknown customer or invoice) are set-based queries over the staging table,
so memory stays flat however long the file is.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import import_rows as rows
from storage.import_report import BadRow, ImportFileError, ImportReport
from storage.models import Customer, Invoice
from storage.types import Money

BATCH_ROWS = 5_000
KINDS = ("customers", "invoices", "payments")

ProgressFn = Callable[[int, int], None]  # (characters read so far, rows read so far)

staging_metadata = MetaData()


def _staging(name: str, *columns: Column[Any]) -> Table:
    return Table(
        f"import_{name}",
        staging_metadata,
        Column("line", Integer, primary_key=True),
        *columns,
        prefixes=["TEMPORARY"],
    )


STAGING = {
    "customers": _staging(
        "customers",
        Column("external_id", String),
        Column("name", String),
        Column("email", String),
        Column("timezone", String),
        Column("country", String),
        Column("language", String),
        Column("currency", String),
        Column("owner_slack_id", String),
        Column("telegram_username", String),
        Column("autopay", Boolean),  # None: the file has no autopay column
        Column("tags", String),  # a JSON list as text; None: no tags column
    ),
    "invoices": _staging(
        "invoices",
        Column("number", String),
        Column("customer_external_id", String),
        Column("issue_date", Date),
        Column("due_date", Date),
        Column("amount", Money()),
        Column("open_amount", Money()),
        Column("currency", String),
    ),
    "payments": _staging(
        "payments",
        Column("invoice_number", String),
        Column("paid_at", Date),
        Column("amount", Money()),
        Column("reference", String),
        Column("natural_key", String),
    ),
}

_COLUMNS = {
    "customers": rows.CUSTOMER_COLUMNS,
    "invoices": rows.INVOICE_COLUMNS,
    "payments": rows.PAYMENT_COLUMNS,
}
_PARSERS = {
    "customers": (rows.customer_parser, rows.CUSTOMER_STAGED),
    "invoices": (rows.invoice_parser, rows.INVOICE_STAGED),
    "payments": (rows.payment_parser, rows.PAYMENT_STAGED),
}
# The key a row is recognised by: two rows with the same key in one file are an error.
_KEYS = {
    "customers": ("external_id",),
    "invoices": ("number",),
    "payments": ("invoice_number", "natural_key"),
}


# -- reading ------------------------------------------------------------------------------


def _lines(path: Path, counter: list[int]) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for line in handle:
                counter[0] += len(line)
                yield line
    except FileNotFoundError:
        raise ImportFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path} is a folder, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not UTF-8 text ({exc.reason})") from None


def _check_header(header: list[str], kind: str) -> list[BadRow]:
    cols = _COLUMNS[kind]
    errors = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(BadRow(1, f"column '{name}' appears twice"))
        seen.add(name)
        if name not in cols.all:
            errors.append(BadRow(1, f"unknown column '{name}' (expected: {', '.join(cols.all)})"))
    for name in cols.required:
        if name not in seen:
            errors.append(BadRow(1, f"missing required column '{name}'"))
    return errors


async def stage(
    conn: AsyncConnection,
    kind: str,
    path: Path,
    report: ImportReport,
    progress: ProgressFn | None,
) -> list[str]:
    """Read the file into its staging table (all rows or errors); return the header."""
    counter = [0]
    reader = csv.reader(_lines(path, counter), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        report.errors.append(BadRow(1, "the file is empty (expected a header row)"))
        return []
    except csv.Error as exc:
        report.errors.append(BadRow(1, f"unreadable CSV header: {exc}"))
        return []
    report.errors.extend(_check_header(header, kind))
    if report.errors:
        return header
    make_parser, staged = _PARSERS[kind]
    parse = make_parser(header, rows.storage_form(conn.dialect.name))
    insert_sql = _insert_sql(conn, STAGING[kind].name, ("line", *staged))
    width = len(header)
    batch: list[tuple[Any, ...]] = []
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            # Errors name the line a record starts on; a quoted field may span lines.
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.rows += 1
                report.errors.append(
                    BadRow(line, f"unreadable CSV record starting on this line: {exc}")
                )
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            report.rows += 1
            if len(fields) != width:
                report.errors.append(BadRow(line, f"expected {width} fields, found {len(fields)}"))
                continue
            if any("\x00" in f for f in fields):
                report.errors.append(BadRow(line, "contains a NUL character (a binary file?)"))
                continue
            try:
                batch.append((line, *parse(fields)))
            except rows.RowError as exc:
                report.errors.append(BadRow(line, str(exc)))
                continue
            if len(batch) >= BATCH_ROWS:
                # The driver writes this batch in its own thread while the next is parsed.
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(conn.exec_driver_sql(insert_sql, batch))
                batch = []
                if progress:
                    progress(counter[0], report.rows)
        if pending is not None:
            await pending
            pending = None
        if batch:
            await conn.exec_driver_sql(insert_sql, batch)
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
    if progress:
        progress(counter[0], report.rows)
    return header


def _insert_sql(conn: AsyncConnection, table: str, columns: tuple[str, ...]) -> str:
    """A driver-level INSERT for staging rows given as tuples (no per-value processing)."""
    if conn.dialect.paramstyle == "qmark":
        marks = ", ".join("?" for _ in columns)
    else:  # asyncpg: numeric_dollar
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


# -- set-based checks ---------------------------------------------------------------------


async def duplicates(conn: AsyncConnection, kind: str) -> list[BadRow]:
    """Rows whose key an earlier row of the file already had."""
    s = STAGING[kind]
    keys = [s.c[k] for k in _KEYS[kind]]
    first = (
        select(*keys, func.min(s.c.line).label("first_line"))
        .group_by(*keys)
        .having(func.count() > 1)
        .subquery()
    )
    query = (
        select(s.c.line, keys[0], first.c.first_line)
        .join(first, and_(*(s.c[k] == first.c[k] for k in _KEYS[kind])))
        .where(s.c.line != first.c.first_line)
    )
    label = {"customers": "customer", "invoices": "invoice", "payments": "payment for invoice"}
    return [
        BadRow(line, f"duplicate {label[kind]} {key!r} in this file (first on line {first_line})")
        for line, key, first_line in await conn.execute(query)
    ]


async def unknown_references(conn: AsyncConnection, kind: str) -> list[BadRow]:
    """Rows naming a customer (invoices) or invoice (payments) the ledger lacks."""
    s = STAGING[kind]
    if kind == "invoices":
        ref, target, what = s.c.customer_external_id, Customer.external_id, "customer"
    elif kind == "payments":
        ref, target, what = s.c.invoice_number, Invoice.number, "invoice"
    else:
        return []
    query = select(s.c.line, ref).where(~exists().where(target == ref))
    return [BadRow(line, f"unknown {what} {value!r}") for line, value in await conn.execute(query)]


def index_keys(sync_conn: Any, kind: str) -> None:
    """Index the staged keys for the checks and the merge."""
    # Built once the rows are in: one bulk index build beats updating it per insert.
    staging = STAGING[kind]
    cols = ", ".join(_KEYS[kind])
    sync_conn.exec_driver_sql(f"CREATE INDEX ix_{staging.name}_key ON {staging.name} ({cols})")
