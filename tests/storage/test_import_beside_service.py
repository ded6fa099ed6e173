"""An import beside a running service (another writer commits meanwhile), and its progress."""

import sqlite3
from pathlib import Path

from storage.db import create_engine
from storage.import_staging import BATCH_ROWS
from storage.importers import import_csv


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


async def test_sqlite_import_survives_a_commit_by_another_writer(tmp_path, sqlite_template):
    db = tmp_path / "shared.db"
    db.write_bytes(sqlite_template.read_bytes())
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        customers = _write(tmp_path / "c.csv", "external_id,name", ["C1,Acme"])
        assert (await import_csv(engine, "customers", customers)).ok
        rows = [f"I{n},C1,2026-01-01,2026-01-31,10" for n in range(BATCH_ROWS * 2 + 10)]
        invoices = _write(
            tmp_path / "i.csv", "number,customer_external_id,issue_date,due_date,amount", rows
        )
        writes = []

        def other_writer(_chars: int, _rows: int) -> None:
            # What `arseq run` does meanwhile: a short write transaction of its own.
            with sqlite3.connect(db, timeout=10) as other:
                other.execute(
                    "INSERT INTO events (at, kind, data) VALUES ('2026-01-01 00:00:00', 'x', '{}')"
                )
            writes.append(1)

        report = await import_csv(engine, "invoices", invoices, progress=other_writer)
        assert report.ok and report.inserted == len(rows)
        assert writes
    finally:
        await engine.dispose()
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM invoices").fetchone()[0] == len(rows)
        assert check.execute("SELECT count(*) FROM events WHERE kind = 'x'").fetchone()[0] == len(
            writes
        )


async def test_sqlite_import_holds_the_write_lock_from_checks_to_merge(
    tmp_path, sqlite_template, monkeypatch
):
    """Regression: a commit between the checks (a read) and the merge (a write) used to be
    able to leave the import on a stale snapshot (SQLITE_BUSY_SNAPSHOT)."""
    from storage import import_staging

    db = tmp_path / "shared.db"
    db.write_bytes(sqlite_template.read_bytes())
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    outcomes = []
    real_unknown = import_staging.unknown_references

    async def references_then_other_writer(conn, kind):
        found = await real_unknown(conn, kind)
        try:
            with sqlite3.connect(db, timeout=0.2) as other:
                other.execute(
                    "INSERT INTO events (at, kind, data) VALUES ('2026-01-01 00:00:00', 'x', '{}')"
                )
            outcomes.append("committed")
        except sqlite3.OperationalError as exc:
            outcomes.append(str(exc))
        return found

    try:
        customers = _write(tmp_path / "c.csv", "external_id,name", ["C1,Acme"])
        assert (await import_csv(engine, "customers", customers)).ok
        monkeypatch.setattr(import_staging, "unknown_references", references_then_other_writer)
        invoices = _write(
            tmp_path / "i.csv",
            "number,customer_external_id,issue_date,due_date,amount",
            ["I1,C1,2026-01-01,2026-01-31,10"],
        )
        report = await import_csv(engine, "invoices", invoices)
    finally:
        await engine.dispose()
    assert report.ok and report.inserted == 1
    assert outcomes == ["database is locked"]


async def test_progress_reaches_the_end_of_the_file(tmp_path, sqlite_template):
    db = tmp_path / "p.db"
    db.write_bytes(sqlite_template.read_bytes())
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    rows = [f"C{n},Name {n}" for n in range(BATCH_ROWS * 2 + 3)]
    path = _write(tmp_path / "c.csv", "external_id,name", rows)
    seen: list[tuple[int, int]] = []
    try:
        report = await import_csv(
            engine, "customers", path, progress=lambda c, r: seen.append((c, r))
        )
    finally:
        await engine.dispose()
    assert report.ok
    assert seen == sorted(seen) and len(seen) >= 3
    assert seen[-1] == (len(path.read_text(encoding="utf-8")), len(rows))


async def test_bulk_load_rebuilds_the_invoice_indexes(tmp_path, sqlite_template, monkeypatch):
    """The SQLite bulk path drops secondary indexes for the merge and builds them again,
    and the query planner uses the rebuilt ones."""
    from sqlalchemy import inspect

    from storage import import_merge

    monkeypatch.setattr(import_merge, "BULK_MIN_ROWS", 1)
    db = tmp_path / "bulk.db"
    db.write_bytes(sqlite_template.read_bytes())
    engine = create_engine(f"sqlite+aiosqlite:///{db}")

    async def index_names() -> set[str]:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: {ix["name"] for ix in inspect(sync).get_indexes("invoices")}
            )

    try:
        before = await index_names()
        assert {"ix_invoices_customer_id", "ix_invoices_status_due_date"} <= before
        assert (await import_csv(engine, "customers", _write(tmp_path / "c.csv",
                "external_id,name", ["C1,Acme"]))).ok  # fmt: skip
        header = "number,customer_external_id,issue_date,due_date,amount"
        good = _write(
            tmp_path / "i.csv", header, [f"I{n},C1,2026-01-01,2026-01-31,5" for n in range(50)]
        )
        assert (await import_csv(engine, "invoices", good)).inserted == 50
        assert await index_names() == before
        async with engine.connect() as conn:
            plan = (await conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM invoices WHERE customer_id = 1"
            )).all()  # fmt: skip
        assert "ix_invoices_customer_id" in str(plan)
    finally:
        await engine.dispose()
