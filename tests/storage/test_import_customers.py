"""Importing customers.csv: idempotent upserts, all-or-nothing files, currency by country."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.importers import import_csv
from tests.helpers.db import counts, customer, import_ok, snapshot, write_csv

HEADER = "external_id,name,email,timezone,country,language,owner_slack_id,telegram_username"


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "customers.csv",
        f"""
        {HEADER}
        C1,Acme GmbH,ap@acme.de,Europe/Berlin,de,de,U0123ABCD,@acme_ap
        C2,Globex,,,,,,
        C3,Initech,billing@initech.com,America/New_York,US,en-US,,
        """,
    )


async def test_customers_import_stores_every_column(engine, customers_csv) -> None:
    report = await import_ok(engine, "customers", customers_csv)

    assert (report.rows, report.inserted, report.updated) == (3, 3, 0)
    acme = await customer(engine, "C1")
    assert acme["name"] == "Acme GmbH"
    assert acme["email"] == "ap@acme.de"
    assert acme["timezone"] == "Europe/Berlin"
    assert acme["country"] == "DE"  # upper-cased
    assert acme["currency"] == "EUR"  # derived from the country
    assert acme["language"] == "de"
    assert acme["owner_slack_id"] == "U0123ABCD"
    assert acme["telegram_username"] == "acme_ap"  # leading @ dropped
    globex = await customer(engine, "C2")
    assert globex["email"] is None
    assert globex["country"] is None
    assert globex["currency"] is None
    assert globex["timezone"] == "UTC"  # blank time zone -> UTC
    assert (await customer(engine, "C3"))["currency"] == "USD"


async def test_customers_import_with_only_required_columns(engine, tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", "external_id,name\nC1,Acme\nC2,Globex\n")

    report = await import_ok(engine, "customers", path)

    assert (report.rows, report.inserted) == (2, 2)
    assert (await customer(engine, "C1"))["timezone"] == "UTC"


async def test_customers_reimported_twice_gives_no_duplicates(engine, customers_csv) -> None:
    await import_ok(engine, "customers", customers_csv)
    first = await snapshot(engine, ignore=("updated_at",))

    again = await import_ok(engine, "customers", customers_csv)

    assert (again.rows, again.inserted, again.updated) == (3, 0, 3)
    assert "0 new, 3 updated" in again.summary()
    second = await snapshot(engine, ignore=("updated_at",))
    assert len(second["customers"]) == 3
    assert len(second["contacts"]) == 2  # one email contact each for C1 and C3
    # Same rows with the same values; only the audit trail grows by one import event.
    assert second["customers"] == first["customers"]
    assert second["contacts"] == first["contacts"]
    assert len(second["events"]) == len(first["events"]) + 1


async def test_customers_changed_row_in_a_reimport_updates_the_stored_customer(
    engine, customers_csv, tmp_path
) -> None:
    await import_ok(engine, "customers", customers_csv)
    changed = write_csv(
        tmp_path / "changed.csv",
        f"""
        {HEADER}
        C1,Acme AG,ap@acme.ch,Europe/Zurich,CH,de-CH,U0123ABCD,@acme_ap
        C4,Umbrella,,,,,,
        """,
    )

    report = await import_ok(engine, "customers", changed)

    assert (report.rows, report.inserted, report.updated) == (2, 1, 1)
    acme = await customer(engine, "C1")
    assert (acme["name"], acme["email"], acme["timezone"]) == (
        "Acme AG",
        "ap@acme.ch",
        "Europe/Zurich",
    )
    assert (acme["country"], acme["currency"], acme["language"]) == ("CH", "CHF", "de-CH")
    assert (await counts(engine))["customers"] == 4


async def test_customers_reimport_without_a_column_keeps_its_stored_values(
    engine, customers_csv, tmp_path
) -> None:
    await import_ok(engine, "customers", customers_csv)
    names_only = write_csv(tmp_path / "names.csv", "external_id,name\nC1,Acme Renamed\n")

    await import_ok(engine, "customers", names_only)

    acme = await customer(engine, "C1")
    assert acme["name"] == "Acme Renamed"
    assert (acme["email"], acme["country"], acme["currency"]) == ("ap@acme.de", "DE", "EUR")
    assert acme["timezone"] == "Europe/Berlin"


async def test_customers_file_with_bad_rows_imports_nothing_and_lists_each(
    engine, tmp_path
) -> None:
    await import_ok(
        engine, "customers", write_csv(tmp_path / "ok.csv", "external_id,name\nC0,Old\n")
    )
    before = await snapshot(engine)
    path = write_csv(
        tmp_path / "bad.csv",
        """
        external_id,name,email,timezone,country
        C1,Good One,a@b.co,,
        C2,,,,
        C3,Bad Mail,not-an-email,,
        C4,Bad Zone,,Mars/Olympus,
        C5,Bad Country,,,Germany
        C1,Duplicate,,,
        C6,Too,Many,Fields,Here,Extra

        C7,Good Two,,,
        """,
    )

    report = await import_csv(engine, "customers", path)

    assert not report.ok
    assert report.rows == 8
    got = [(e.line, e.reason) for e in report.errors]
    assert [line for line, _ in got] == [3, 4, 5, 6, 7, 8]
    expected = {
        3: "missing required value 'name'",
        4: "bad email",
        5: "unknown time zone",
        6: "bad country",
        7: "duplicate customer 'C1' in this file (first on line 2)",
        8: "expected 5 fields, found 6",
    }
    for line, reason in got:
        assert expected[line] in reason, (line, reason)
    assert report.summary() == "customers: 6 bad row(s) in 8 row(s); nothing imported"
    assert await snapshot(engine) == before  # even C1 and C7, the good rows, are absent


BAD_HEADERS = [
    ("external_id,email", "missing required column 'name'"),
    ("name", "missing required column 'external_id'"),
    ("external_id,name,nickname", "unknown column 'nickname'"),
    ("external_id,name,name", "column 'name' appears twice"),
]


async def test_customers_file_with_bad_header_imports_nothing(engine, tmp_path) -> None:
    for n, (header, reason) in enumerate(BAD_HEADERS):
        width = len(header.split(","))
        path = write_csv(tmp_path / f"c{n}.csv", f"{header}\n{','.join(['x'] * width)}\n")

        report = await import_csv(engine, "customers", path)

        assert [(e.line, e.reason.split(" (")[0]) for e in report.errors] == [(1, reason)]
        assert (await counts(engine))["customers"] == 0


async def test_customers_dry_run_reports_like_an_import_and_writes_nothing(
    engine, customers_csv
) -> None:
    before = await snapshot(engine)

    dry = await import_csv(engine, "customers", customers_csv, dry_run=True)

    assert dry.ok and dry.dry_run
    assert (dry.rows, dry.inserted, dry.updated) == (3, 3, 0)
    assert dry.summary().startswith("customers: would import 3 row(s): 3 new, 0 updated")
    assert await snapshot(engine) == before
    real = await import_ok(engine, "customers", customers_csv)
    assert (real.rows, real.inserted, real.updated) == (dry.rows, dry.inserted, dry.updated)


async def test_customer_currency_follows_the_country(engine, tmp_path) -> None:
    expected = {"DE": "EUR", "fr": "EUR", "JP": "JPY", "GB": "GBP", "US": "USD", "": None}
    rows = "".join(f"C-{n},Acme,{country}\n" for n, country in enumerate(expected))
    await import_ok(
        engine, "customers", write_csv(tmp_path / "c.csv", "external_id,name,country\n" + rows)
    )

    for n, currency in enumerate(expected.values()):
        assert (await customer(engine, f"C-{n}"))["currency"] == currency
