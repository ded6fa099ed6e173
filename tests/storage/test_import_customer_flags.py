"""Importing customers' exclusion flags: the optional `autopay` and `tags` columns."""

from __future__ import annotations

import pytest

from storage.import_rows import RowError, parse_autopay, parse_tags
from storage.importers import import_csv
from tests.helpers.db import customer, import_ok, snapshot, write_csv


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("Yes", True), ("1", True), ("FALSE", False), ("no", False),
     ("0", False), ("", False)],
)  # fmt: skip
def test_autopay_values(text: str, expected: bool) -> None:
    assert parse_autopay(text) is expected


@pytest.mark.parametrize("text", ["y", "2", "maybe", "on", "t"])
def test_autopay_refuses_anything_else(text: str) -> None:
    with pytest.raises(RowError, match="bad autopay"):
        parse_autopay(text)


def test_tags_are_split_on_semicolons_trimmed_and_deduplicated() -> None:
    assert parse_tags(" vip ; no-reminders;;vip ") == '["vip", "no-reminders"]'
    assert parse_tags("") == "[]"
    # Stored unescaped, as the exclusion's text match looks for it.
    assert parse_tags("pas-de-relance-é") == '["pas-de-relance-é"]'
    with pytest.raises(RowError, match="bad tag"):
        parse_tags('ok;say "hi"')
    with pytest.raises(RowError, match="bad tag"):
        parse_tags("x" * 65)


async def test_autopay_and_tags_are_stored(engine, tmp_path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        """
        external_id,name,autopay,tags
        C1,Acme,true,no-reminders;vip
        C2,Globex,no,
        C3,Initech,,key account
        """,
    )

    await import_ok(engine, "customers", path)

    acme, globex, initech = [await customer(engine, k) for k in ("C1", "C2", "C3")]
    assert (acme["autopay"], acme["tags"]) == (True, ["no-reminders", "vip"])
    assert (globex["autopay"], globex["tags"]) == (False, [])
    assert (initech["autopay"], initech["tags"]) == (False, ["key account"])


async def test_a_file_without_the_columns_gives_new_customers_no_flags(engine, tmp_path) -> None:
    await import_ok(engine, "customers", write_csv(tmp_path / "c.csv", "external_id,name\nC1,A\n"))

    acme = await customer(engine, "C1")
    assert (acme["autopay"], acme["tags"]) == (False, [])


async def test_a_reimport_without_the_columns_keeps_the_stored_flags(engine, tmp_path) -> None:
    flags = "external_id,name,autopay,tags\nC1,Acme,yes,no-reminders\nC2,Globex,0,vip\n"
    await import_ok(engine, "customers", write_csv(tmp_path / "flags.csv", flags))
    names = "external_id,name,email\nC1,Acme AG,ap@acme.test\nC2,Globex Inc,\n"

    await import_ok(engine, "customers", write_csv(tmp_path / "names.csv", names))

    acme, globex = await customer(engine, "C1"), await customer(engine, "C2")
    assert (acme["name"], acme["autopay"], acme["tags"]) == ("Acme AG", True, ["no-reminders"])
    assert (globex["name"], globex["autopay"], globex["tags"]) == ("Globex Inc", False, ["vip"])


async def test_a_reimport_with_one_column_updates_only_that_one(engine, tmp_path) -> None:
    flags = "external_id,name,autopay,tags\nC1,Acme,yes,no-reminders\n"
    await import_ok(engine, "customers", write_csv(tmp_path / "flags.csv", flags))

    await import_ok(
        engine, "customers", write_csv(tmp_path / "off.csv", "external_id,name,autopay\nC1,A,no\n")
    )
    assert ((c := await customer(engine, "C1"))["autopay"], c["tags"]) == (False, ["no-reminders"])
    await import_ok(
        engine, "customers", write_csv(tmp_path / "untag.csv", "external_id,name,tags\nC1,A,\n")
    )
    assert ((c := await customer(engine, "C1"))["autopay"], c["tags"]) == (False, [])


async def test_bad_flags_are_reported_with_their_lines_and_nothing_is_written(
    engine, tmp_path
) -> None:
    before = await snapshot(engine)
    path = write_csv(
        tmp_path / "bad.csv",
        r"""
        external_id,name,autopay,tags
        C1,Acme,true,vip
        C2,Globex,sometimes,
        C3,Initech,no,vip;back\slash
        C4,Umbrella,1,
        """,
    )

    report = await import_csv(engine, "customers", path)

    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [
        (3, "bad autopay"),
        (4, "bad tag"),
    ]
    assert "'sometimes'" in report.errors[0].reason
    assert await snapshot(engine) == before
