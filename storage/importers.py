"""Streaming, all-or-nothing, idempotent CSV import (SPEC section 7).

A file is read once, row by row, and staged in batches into a temporary table inside
one transaction (`import_staging`). Checks that need the whole file or the database
are set-based queries over the staging table, so memory stays flat however long the
file is. Only a file without a single bad row is merged into the ledger
(`import_merge`); otherwise the transaction is rolled back and every bad row is
reported with its line number.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, literal, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import import_merge as merge
from storage import import_staging as staging
from storage.db import enlarge_cache, take_write_lock
from storage.import_merge import IMPORT_CACHE_KIB
from storage.import_report import BadRow, ImportFileError, ImportReport
from storage.import_staging import KINDS, ProgressFn
from storage.models import Event
from storage.types import UTCDateTime

__all__ = [
    "IMPORT_CACHE_KIB", "KINDS", "BadRow", "ImportFileError", "ImportReport", "import_csv",
]  # fmt: skip


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
    table = staging.STAGING[kind]
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            await enlarge_cache(conn, IMPORT_CACHE_KIB)
            await conn.run_sync(lambda sync: table.create(sync))
            header = await staging.stage(conn, kind, path, report, progress)
            header_ok = not any(e.line == 1 for e in report.errors)
            if header_ok and report.rows:
                # Staging only wrote temporary tables; the ledger is read from here on.
                await take_write_lock(conn)
                # Run even when some rows were bad: the user gets every problem at once.
                await conn.run_sync(staging.index_keys, kind)
                report.errors.extend(await staging.duplicates(conn, kind))
                report.errors.extend(await staging.unknown_references(conn, kind))
            if not report.errors and report.rows:
                await merge.merge_file(conn, kind, header, stamp, report, actor)
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
            await conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
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
