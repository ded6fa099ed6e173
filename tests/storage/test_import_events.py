"""The audit trail of imports: one import_<kind> event per import that wrote something."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.importers import ImportFileError, import_csv
from tests.helpers.db import events, import_ok, write_csv

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "customers": write_csv(tmp_path / "cust.csv", "external_id,name\nC1,Acme\nC2,Globex\n"),
        "invoices": write_csv(
            tmp_path / "inv.csv",
            """
            number,customer_external_id,issue_date,due_date,amount
            INV-1,C1,2026-01-01,2026-01-31,100
            INV-2,C2,2026-01-01,2026-01-31,50
            """,
        ),
        "payments": write_csv(
            tmp_path / "pay.csv",
            "invoice_number,paid_at,amount,reference\nINV-1,2026-02-01,40,\nINV-2,2026-02-01,50,R\n",
        ),
    }


async def test_each_successful_import_writes_one_import_event(engine, files) -> None:
    for kind in ("customers", "invoices", "payments"):
        await import_ok(engine, kind, files[kind], actor="U0123ABCD", now=NOW)

    for kind in ("customers", "invoices", "payments"):
        (event,) = await events(engine, f"import_{kind}")
        assert event["actor"] == "U0123ABCD"
        assert event["reason"] == files[kind].name
        assert event["at"] == NOW
        assert event["data"] == {"rows": 2, "inserted": 2, "updated": 0}

    await import_ok(engine, "customers", files["customers"], now=NOW)
    _first, second = await events(engine, "import_customers")
    assert second["data"] == {"rows": 2, "inserted": 0, "updated": 2}
    assert second["actor"] == "import"  # the default actor


async def test_refused_unreadable_or_dry_run_imports_write_no_event(
    engine, files, tmp_path
) -> None:
    await import_ok(engine, "customers", files["customers"])
    bad = write_csv(tmp_path / "bad.csv", "external_id,name\nC3,Good\nC4,\n")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("external_id,name\nC5,Café\n".encode("latin-1"))

    refused = await import_csv(engine, "customers", bad)
    with pytest.raises(ImportFileError):
        await import_csv(engine, "customers", latin1)
    dry = await import_csv(engine, "invoices", files["invoices"], dry_run=True)

    assert not refused.ok
    assert dry.ok and dry.inserted == 2
    assert [e["kind"] for e in await events(engine)] == ["import_customers"]


async def test_payments_write_one_payment_event_per_new_or_changed_payment(
    engine, files, tmp_path
) -> None:
    await import_ok(engine, "customers", files["customers"])
    await import_ok(engine, "invoices", files["invoices"])

    await import_ok(engine, "payments", files["payments"])
    assert len(await events(engine, "payment_recorded")) == 2

    await import_ok(engine, "payments", files["payments"])  # nothing changed
    assert len(await events(engine, "payment_recorded")) == 2

    changed = write_csv(
        tmp_path / "changed.csv", "invoice_number,paid_at,amount,reference\nINV-2,2026-02-01,45,R\n"
    )
    await import_ok(engine, "payments", changed)
    recorded = await events(engine, "payment_recorded")
    assert len(recorded) == 3
    assert recorded[-1]["invoice_id"] is not None
    assert recorded[-1]["customer_id"] is not None
