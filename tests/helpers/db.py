"""Small probes of the ledger for import tests: write a CSV, import it, read rows back."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.importers import ImportReport, import_csv
from storage.models import Contact, Customer, Event, Invoice, Payment

LEDGER = (Customer, Contact, Invoice, Payment, Event)


def write_csv(
    path: Path, text: str, *, crlf: bool = False, bom: bool = False, encoding: str = "utf-8"
) -> Path:
    """Write `text` (dedented, first newline dropped) byte for byte as a CSV file."""
    body = textwrap.dedent(text).lstrip("\n")
    if crlf:
        body = body.replace("\n", "\r\n")
    data = body.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


async def import_ok(engine: AsyncEngine, kind: str, path: Path, **kwargs: Any) -> ImportReport:
    """Import a file that must be accepted; fail with its errors otherwise."""
    report = await import_csv(engine, kind, path, **kwargs)
    assert report.ok, [str(e) for e in report.errors]
    return report


async def count(engine: AsyncEngine, model: type) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(model.__table__)  # type: ignore[attr-defined]
        return int((await conn.execute(query)).scalar_one())


async def counts(engine: AsyncEngine) -> dict[str, int]:
    """Row count of every ledger table the importer writes."""
    return {m.__tablename__: await count(engine, m) for m in LEDGER}


async def snapshot(
    engine: AsyncEngine, *, ignore: tuple[str, ...] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the importer writes, for before/after comparisons.

    Columns named in `ignore` (like `updated_at`) are left out.
    """
    out = {}
    async with engine.connect() as conn:
        for model in LEDGER:
            table = model.__table__
            result = await conn.execute(select(table).order_by(table.c.id))
            out[table.name] = [
                {k: v for k, v in row.items() if k not in ignore} for row in result.mappings()
            ]
    return out


async def _rows(engine: AsyncEngine, query: Any) -> list[RowMapping]:
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings())


async def customer(engine: AsyncEngine, external_id: str) -> RowMapping:
    c = Customer.__table__
    (row,) = await _rows(engine, select(c).where(c.c.external_id == external_id))
    return row


async def invoice(engine: AsyncEngine, number: str) -> RowMapping:
    i = Invoice.__table__
    (row,) = await _rows(engine, select(i).where(i.c.number == number))
    return row


async def invoices(engine: AsyncEngine) -> dict[str, RowMapping]:
    i = Invoice.__table__
    return {r["number"]: r for r in await _rows(engine, select(i).order_by(i.c.id))}


async def payments(engine: AsyncEngine, number: str | None = None) -> list[RowMapping]:
    """Payments (with their invoice's number), optionally of one invoice, oldest first."""
    p, i = Payment.__table__, Invoice.__table__
    query = select(p, i.c.number).join(i, i.c.id == p.c.invoice_id).order_by(p.c.id)
    if number is not None:
        query = query.where(i.c.number == number)
    return await _rows(engine, query)


async def events(engine: AsyncEngine, kind: str | None = None) -> list[RowMapping]:
    e = Event.__table__
    query = select(e).order_by(e.c.id)
    if kind is not None:
        query = query.where(e.c.kind == kind)
    return await _rows(engine, query)
