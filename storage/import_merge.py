"""Merging staged rows into the ledger: upserts, so a row seen again updates.

Everything here runs inside the import's transaction; a rollback undoes all of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    true,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import import_rows as rows
from storage.db import upsert_insert
from storage.import_report import ImportReport
from storage.import_staging import STAGING, staging_metadata
from storage.models import Contact, Customer, Event, Invoice, Payment
from storage.types import Money


def _json_text(conn: AsyncConnection, value: Any) -> Any:
    """JSON given as text, for a JSON column: a cast on PostgreSQL, as-is on SQLite.

    (SQLite's CAST(... AS JSON) would take numeric affinity and turn the text into 0.)
    """
    if conn.dialect.name == "postgresql":
        return cast(value, JSON())
    return type_coerce(value, JSON())


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _merge_customers(
    conn: AsyncConnection, header: list[str], now: Any, report: ImportReport
) -> None:
    s = STAGING["customers"]
    c = Customer.__table__
    upsert = upsert_insert(conn)
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
            func.coalesce(s.c.autopay, False),
            _json_text(conn, func.coalesce(s.c.tags, "[]")),
            now,
            now,
        ).where(true()),
    )
    # Only the columns the file has are updated: a file without `email` keeps emails,
    # one without `autopay` or `tags` keeps those.
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
    upsert = upsert_insert(conn)
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
    upsert = upsert_insert(conn)
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
    staging_metadata,
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
        upsert = upsert_insert(conn)
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


_TARGETS = {
    "customers": Customer.__table__,
    "invoices": Invoice.__table__,
    "payments": Payment.__table__,
}
# SQLite page cache for the import's connection: the ledger's indexes must fit in it,
# or every random insert into them becomes a read from disk.
IMPORT_CACHE_KIB = 65_536
BULK_MIN_ROWS = 100_000


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


async def merge_file(
    conn: AsyncConnection, kind: str, header: list[str], now: Any, report: ImportReport,
    actor: str,
) -> None:  # fmt: skip
    """Merge the staged rows of `kind` into the ledger and fill the report's counts."""
    async with _bulk_indexes(conn, _TARGETS[kind], report.rows):
        if kind == "customers":
            await _merge_customers(conn, header, now, report)
        elif kind == "invoices":
            await _merge_invoices(conn, header, now, report)
        else:
            await _merge_payments(conn, header, now, report, actor)
