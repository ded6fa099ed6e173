"""Streaming, all-or-nothing, idempotent CSV import (SPEC section 7).

A file is read once, row by row, and staged in batches into a temporary table inside
one transaction. Checks that need the whole file or the database (duplicate keys,
unknown customers or invoices) are then set-based queries over the staging table, so
memory stays flat however long the file is. Only a file without a single bad row is
merged into the ledger (upserts, so a row seen again updates); otherwise the
transaction is rolled back and every bad row is reported with its line number.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import import_rows as rows
from storage.models import Contact, Customer, Event, Invoice, Payment
from storage.types import Money, UTCDateTime

BATCH_ROWS = 5_000
KINDS = ("customers", "invoices", "payments")

ProgressFn = Callable[[int, int], None]  # (characters read so far, rows read so far)


@dataclass(frozen=True)
class BadRow:
    """One reason a file was refused: the line (1 is the header) and what is wrong."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did, or would do (`dry_run`), or why it did nothing (`errors`)."""

    kind: str
    path: str
    dry_run: bool = False
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[BadRow] = field(default_factory=list)
    overpayments: list[tuple[str, Decimal, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """The one line printed at the end of an import."""
        if self.errors:
            return (
                f"{self.kind}: {len(self.errors)} bad row(s) in {self.rows} row(s); "
                "nothing imported"
            )
        verb = "would import" if self.dry_run else "imported"
        line = (
            f"{self.kind}: {verb} {self.rows} row(s): {self.inserted} new, "
            f"{self.updated} updated ({self.seconds:.1f} s)"
        )
        if self.overpayments:
            line += f"; {len(self.overpayments)} overpaid invoice(s) recorded as credit"
        return line


class ImportFileError(Exception):
    """The file cannot be read at all (missing, not UTF-8)."""


# -- staging tables: one per kind, temporary, typed like the ledger's columns -------------

_staging_md = MetaData()


def _staging(name: str, *columns: Column[Any]) -> Table:
    return Table(
        f"import_{name}",
        _staging_md,
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


async def _stage(
    conn: AsyncConnection,
    kind: str,
    path: Path,
    report: ImportReport,
    progress: ProgressFn | None,
) -> list[str]:
    """Read the file into the staging table; return the header's column names."""
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


async def _duplicates(conn: AsyncConnection, kind: str) -> list[BadRow]:
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


async def _unknown_references(conn: AsyncConnection, kind: str) -> list[BadRow]:
    s = STAGING[kind]
    if kind == "invoices":
        ref, target, what = s.c.customer_external_id, Customer.external_id, "customer"
    elif kind == "payments":
        ref, target, what = s.c.invoice_number, Invoice.number, "invoice"
    else:
        return []
    query = select(s.c.line, ref).where(~exists().where(target == ref))
    return [BadRow(line, f"unknown {what} {value!r}") for line, value in await conn.execute(query)]


# -- merging into the ledger --------------------------------------------------------------


def _upsert_fn(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _merge_customers(
    conn: AsyncConnection, header: list[str], now: Any, report: ImportReport
) -> None:
    s = STAGING["customers"]
    c = Customer.__table__
    upsert = _upsert_fn(conn)
    zone = func.coalesce(s.c.timezone, "UTC")
    stmt = upsert(c).from_select(
        [
            "external_id",
            "name",
            "email",
            "timezone",
            "country",
            "language",
            "currency",
            "owner_slack_id",
            "telegram_username",
            "autopay",
            "tags",
            "created_at",
            "updated_at",
        ],
        select(
            s.c.external_id,
            s.c.name,
            s.c.email,
            zone,
            s.c.country,
            s.c.language,
            s.c.currency,
            s.c.owner_slack_id,
            s.c.telegram_username,
            literal(False),
            literal([], JSON()),
            now,
            now,
        ).where(true()),
    )
    # Only the columns the file has are updated: a file without `email` keeps emails.
    given = {"name", *header}
    if "country" in given:
        given.add("currency")
    set_ = {col: stmt.excluded[col] for col in rows.CUSTOMER_COLUMNS.all if col in given}
    if "country" in given:
        set_["currency"] = stmt.excluded.currency
    set_.pop("external_id", None)
    set_["updated_at"] = stmt.excluded.updated_at
    before = await _count(conn, c)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["external_id"], set_=set_))
    report.inserted = await _count(conn, c) - before
    report.updated = report.rows - report.inserted
    if "email" in given:
        await _merge_email_contacts(conn, now)


async def _merge_email_contacts(conn: AsyncConnection, now: Any) -> None:
    s = STAGING["customers"]
    c = Customer.__table__
    ct = Contact.__table__
    upsert = _upsert_fn(conn)
    stmt = upsert(ct).from_select(
        ["customer_id", "channel", "address", "is_primary", "created_at", "updated_at"],
        select(c.c.id, literal("email"), s.c.email, literal(True), now, now)
        .join_from(s, c, c.c.external_id == s.c.external_id)
        .where(s.c.email.is_not(None)),
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["customer_id", "channel", "address"],
            set_={"is_primary": True, "updated_at": now},
        )
    )
    # The address in the file is the customer's primary email; older ones stay on record.
    current = select(c.c.email).where(c.c.id == ct.c.customer_id).scalar_subquery()
    touched = select(c.c.id).join(s, s.c.external_id == c.c.external_id)
    await conn.execute(
        update(ct)
        .where(ct.c.channel == "email", ct.c.customer_id.in_(touched))
        .where(ct.c.address != func.coalesce(current, ""))
        .values(is_primary=False, updated_at=now)
    )


async def _merge_invoices(
    conn: AsyncConnection, header: list[str], now: Any, report: ImportReport
) -> None:
    s = STAGING["invoices"]
    c = Customer.__table__
    i = Invoice.__table__
    p = Payment.__table__
    upsert = _upsert_fn(conn)
    open_amount = func.coalesce(s.c.open_amount, s.c.amount)
    stmt = upsert(i).from_select(
        [
            "number",
            "customer_id",
            "issue_date",
            "due_date",
            "amount",
            "open_amount",
            "currency",
            "status",
            "created_at",
            "updated_at",
        ],
        select(
            s.c.number,
            c.c.id,
            s.c.issue_date,
            s.c.due_date,
            s.c.amount,
            open_amount,
            func.coalesce(s.c.currency, c.c.currency, "USD"),
            case((open_amount <= 0, "paid"), else_="open"),
            now,
            now,
        ).join_from(s, c, c.c.external_id == s.c.customer_external_id),
    )
    ex = stmt.excluded
    settled = i.c.status.in_(["open", "paid"])
    stmt = stmt.on_conflict_do_update(
        index_elements=["number"],
        set_={
            "customer_id": ex.customer_id,
            "issue_date": ex.issue_date,
            "due_date": ex.due_date,
            "amount": ex.amount,
            "open_amount": ex.open_amount,
            "currency": ex.currency,
            "status": case((settled, ex.status), else_=i.c.status),
            "paid_at": case((ex.open_amount <= 0, i.c.paid_at), else_=None),
            "updated_at": ex.updated_at,
        },
    )
    before = await _count(conn, i)
    await conn.execute(stmt)
    report.inserted = await _count(conn, i) - before
    report.updated = report.rows - report.inserted
    # Without an explicit open_amount, an invoice that already has payments stays
    # reduced by them: re-importing the invoice file must not undo recorded payments.
    paid = select(func.sum(p.c.amount)).where(p.c.invoice_id == i.c.id).scalar_subquery()
    new_open = i.c.amount - paid
    await conn.execute(
        update(i)
        .where(i.c.id.in_(select(p.c.invoice_id)))
        .where(i.c.number.in_(select(s.c.number).where(s.c.open_amount.is_(None))))
        .values(
            open_amount=new_open,
            status=case((~settled, i.c.status), (new_open <= 0, "paid"), else_="open"),
            paid_at=case(
                (
                    new_open <= 0,
                    select(func.max(p.c.paid_at)).where(p.c.invoice_id == i.c.id).scalar_subquery(),
                ),
                else_=None,
            ),
        )
    )


_deltas = Table(
    "import_payment_deltas",
    _staging_md,
    Column("invoice_id", Integer, primary_key=True),
    Column("delta", Money()),
    Column("changes", Integer),
    prefixes=["TEMPORARY"],
)


async def _merge_payments(
    conn: AsyncConnection, header: list[str], now: Any, report: ImportReport, actor: str
) -> None:
    s = STAGING["payments"]
    i = Invoice.__table__
    p = Payment.__table__
    e = Event.__table__
    d = _deltas
    await conn.run_sync(lambda sync: d.create(sync))
    try:
        # How much each invoice's open amount moves: new payments count in full, a
        # payment seen again counts only by how much its amount changed. `changes`
        # also counts a corrected date, which can move the invoice's paid date.
        old = func.coalesce(p.c.amount, 0)
        changed = p.c.id.is_(None) | (p.c.amount != s.c.amount) | (p.c.paid_at != s.c.paid_at)
        await conn.execute(
            insert(d).from_select(
                ["invoice_id", "delta", "changes"],
                select(i.c.id, func.sum(s.c.amount - old), func.sum(case((changed, 1), else_=0)))
                .join_from(s, i, i.c.number == s.c.invoice_number)
                .outerjoin(p, and_(p.c.invoice_id == i.c.id, p.c.natural_key == s.c.natural_key))
                .group_by(i.c.id),
            )
        )
        # The audit trail gets one event per payment that is new or changed.
        events = (
            select(
                now,
                literal("payment_recorded"),
                literal(actor),
                i.c.customer_id,
                i.c.id,
                literal("import"),
                literal({}, JSON()),
            )
            .join_from(s, i, i.c.number == s.c.invoice_number)
            .outerjoin(p, and_(p.c.invoice_id == i.c.id, p.c.natural_key == s.c.natural_key))
            .where(changed)
        )
        await conn.execute(
            insert(e).from_select(
                ["at", "kind", "actor", "customer_id", "invoice_id", "reason", "data"], events
            )
        )
        upsert = _upsert_fn(conn)
        stmt = upsert(p).from_select(
            ["invoice_id", "paid_at", "amount", "reference", "natural_key", "created_at"],
            select(i.c.id, s.c.paid_at, s.c.amount, s.c.reference, s.c.natural_key, now).join_from(
                s, i, i.c.number == s.c.invoice_number
            ),
        )
        before = await _count(conn, p)
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["invoice_id", "natural_key"],
                set_={
                    "paid_at": stmt.excluded.paid_at,
                    "amount": stmt.excluded.amount,
                    "reference": stmt.excluded.reference,
                },
            )
        )
        report.inserted = await _count(conn, p) - before
        report.updated = report.rows - report.inserted
        delta = select(d.c.delta).where(d.c.invoice_id == i.c.id).scalar_subquery()
        new_open = i.c.open_amount - delta
        last_paid = select(func.max(p.c.paid_at)).where(p.c.invoice_id == i.c.id)
        await conn.execute(
            update(i)
            .where(i.c.id.in_(select(d.c.invoice_id).where(d.c.changes > 0)))
            .values(
                open_amount=new_open,
                status=case(
                    (i.c.status.not_in(["open", "paid"]), i.c.status),
                    (new_open <= 0, "paid"),
                    else_="open",
                ),
                paid_at=case((new_open <= 0, last_paid.scalar_subquery()), else_=None),
                updated_at=now,
            )
        )
        over = await conn.execute(
            select(i.c.number, -i.c.open_amount, i.c.currency)
            .join(d, d.c.invoice_id == i.c.id)
            .where(d.c.delta != 0, i.c.open_amount < 0)
            .order_by(i.c.number)
        )
        report.overpayments = [(n, Decimal(a), cur) for n, a, cur in over]
    finally:
        await conn.execute(text(f"DROP TABLE IF EXISTS {d.name}"))


# -- the entry point ----------------------------------------------------------------------


async def import_csv(
    engine: AsyncEngine,
    kind: str,
    path: str | Path,
    *,
    dry_run: bool = False,
    actor: str = "import",
    now: datetime | None = None,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import one CSV file of `kind`: all of it, or (on any bad row) none of it."""
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}")
    path = Path(path)
    report = ImportReport(kind=kind, path=str(path), dry_run=dry_run)
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    stamp = literal(now, UTCDateTime())
    staging = STAGING[kind]
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            await _enlarge_cache(conn)
            await conn.run_sync(lambda sync: staging.create(sync))
            header = await _stage(conn, kind, path, report, progress)
            header_ok = not any(e.line == 1 for e in report.errors)
            if header_ok and report.rows:
                # Run even when some rows were bad: the user gets every problem at once.
                await conn.run_sync(_index_keys, kind)
                report.errors.extend(await _duplicates(conn, kind))
                report.errors.extend(await _unknown_references(conn, kind))
            if not report.errors and report.rows:
                async with _bulk_indexes(conn, _TARGETS[kind], report.rows):
                    if kind == "customers":
                        await _merge_customers(conn, header, stamp, report)
                    elif kind == "invoices":
                        await _merge_invoices(conn, header, stamp, report)
                    else:
                        await _merge_payments(conn, header, stamp, report, actor)
                await conn.execute(
                    insert(Event.__table__).values(
                        at=now,
                        kind=f"import_{kind}",
                        actor=actor,
                        reason=str(path.name),
                        data={
                            "rows": report.rows,
                            "inserted": report.inserted,
                            "updated": report.updated,
                        },
                    )
                )
            await conn.execute(text(f"DROP TABLE IF EXISTS {staging.name}"))
            report.errors.sort(key=lambda e: e.line)
            if report.errors or dry_run:
                await trans.rollback()
            else:
                await trans.commit()
        except BaseException:
            if trans.is_active:
                await trans.rollback()
            raise
    report.seconds = time.perf_counter() - started
    return report


_TARGETS = {
    "customers": Customer.__table__,
    "invoices": Invoice.__table__,
    "payments": Payment.__table__,
}
# SQLite page cache for the import's connection: the ledger's indexes must fit in it,
# or every random insert into them becomes a read from disk.
IMPORT_CACHE_KIB = 65_536
BULK_MIN_ROWS = 100_000


async def _enlarge_cache(conn: AsyncConnection) -> None:
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")


@contextlib.asynccontextmanager
async def _bulk_indexes(conn: AsyncConnection, table: Table, rows: int) -> AsyncIterator[None]:
    """On SQLite, for a load that is large against the table, rebuild secondary indexes.

    One sorted index build after the load beats a million random inserts into each
    index. It all happens in the import's transaction: a rollback restores them.
    """
    indexes = [ix for ix in table.indexes if not ix.unique]
    if conn.dialect.name != "sqlite" or rows < BULK_MIN_ROWS or not indexes:
        yield
        return
    existing = await _count(conn, table)
    if rows < existing // 4:
        yield
        return
    for index in indexes:
        await conn.exec_driver_sql(f"DROP INDEX {index.name}")
    yield
    for index in indexes:
        await conn.run_sync(lambda sync, ix=index: ix.create(sync))


def _index_keys(sync_conn: Any, kind: str) -> None:
    # Built once the rows are in: one bulk index build beats updating it per insert.
    staging = STAGING[kind]
    cols = ", ".join(_KEYS[kind])
    sync_conn.exec_driver_sql(f"CREATE INDEX ix_{staging.name}_key ON {staging.name} ({cols})")
