"""What the importer reads: UTF-8 (with or without BOM), CRLF, blank lines, and refusals."""

from __future__ import annotations

import pytest

from storage.importers import ImportFileError, import_csv
from tests.helpers.db import counts, customer, import_ok, snapshot, write_csv

NAMES = {
    "C1": "Zoë Café",
    "C2": "株式会社テスト",
    "C3": "🚀 Rocket Labs 👍🏽",
    "C4": "Ærøskøbing Æble ApS",
    "C5": "Ωmega «Ltd»",
}


def _customers_text() -> str:
    rows = "".join(f"{cid},{name},DE\n" for cid, name in NAMES.items())
    return "external_id,name,country\n" + rows


async def _names(engine) -> dict[str, str]:
    return {cid: (await customer(engine, cid))["name"] for cid in NAMES}


async def test_utf8_names_are_stored_exactly(engine, tmp_path) -> None:
    await import_ok(engine, "customers", write_csv(tmp_path / "c.csv", _customers_text()))

    assert await _names(engine) == NAMES


async def test_utf8_bom_at_file_start_is_not_part_of_the_first_column(engine, tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", _customers_text(), bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfexternal_id")

    report = await import_ok(engine, "customers", path)

    assert report.rows == len(NAMES)
    assert await _names(engine) == NAMES


async def test_crlf_line_endings_leave_no_carriage_return_in_values(engine, tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", _customers_text(), crlf=True)
    assert path.read_bytes().count(b"\r\n") == len(NAMES) + 1

    await import_ok(engine, "customers", path)

    assert await _names(engine) == NAMES
    stored = await customer(engine, "C5")
    assert (stored["country"], stored["currency"]) == ("DE", "EUR")  # last column, no \r


async def test_crlf_file_with_bad_rows_reports_exact_line_numbers(engine, tmp_path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        "external_id,name\nC1,Zoë\n\nC2,\nC3,株式会社\nC3,again\n",
        crlf=True,
        bom=True,
    )

    report = await import_csv(engine, "customers", path)

    assert [(e.line, e.reason.split(" (")[0]) for e in report.errors] == [
        (4, "missing required value 'name'"),
        (6, "duplicate customer 'C3' in this file"),
    ]
    assert (await counts(engine))["customers"] == 0


async def test_quoted_fields_with_commas_quotes_and_newlines(engine, tmp_path) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        'external_id,name,email\nC1,"Acme, Inc.",\nC2,"The ""Best"" Co",\n'
        'C3,"Two\nLines",\nC4,Bad Mail,nope\n',
    )

    report = await import_csv(engine, "customers", path)

    # The quoted newline spans lines 4-5, so the bad row after it is on line 6.
    assert [(e.line, e.reason) for e in report.errors] == [(6, "bad email: 'nope'")]

    path.write_text(path.read_text(encoding="utf-8").replace(",nope", ","), encoding="utf-8")
    await import_ok(engine, "customers", path)
    assert (await customer(engine, "C1"))["name"] == "Acme, Inc."
    assert (await customer(engine, "C2"))["name"] == 'The "Best" Co'
    assert (await customer(engine, "C3"))["name"] == "Two\nLines"


async def test_name_length_counts_characters_not_bytes(engine, tmp_path) -> None:
    ok = write_csv(tmp_path / "ok.csv", f"external_id,name\nC1,{'株' * 255}\n")
    await import_ok(engine, "customers", ok)
    assert (await customer(engine, "C1"))["name"] == "株" * 255

    too_long = write_csv(tmp_path / "long.csv", f"external_id,name\nC2,{'株' * 256}\n")
    report = await import_csv(engine, "customers", too_long)
    assert [(e.line, e.reason) for e in report.errors] == [
        (2, "name is longer than 255 characters")
    ]


async def test_non_utf8_file_is_refused_with_a_clear_error(engine, tmp_path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("external_id,name\nC1,Zoë Café\n".encode("latin-1"))
    before = await snapshot(engine)

    with pytest.raises(ImportFileError, match="not UTF-8") as caught:
        await import_csv(engine, "customers", path)

    assert "latin1.csv" in str(caught.value)
    assert await snapshot(engine) == before


async def test_non_utf8_byte_after_a_full_staging_batch_still_writes_nothing(
    engine, tmp_path
) -> None:
    # More rows than one staging batch before the bad byte: they must be rolled back,
    # and the connection must be usable again (no staging table left behind).
    good = "".join(f"C{n},Customer {n}\n" for n in range(5_200)).encode()
    path = tmp_path / "late.csv"
    path.write_bytes(b"external_id,name\n" + good + "C-END,Café\n".encode("latin-1"))

    with pytest.raises(ImportFileError, match="not UTF-8"):
        await import_csv(engine, "customers", path)

    assert (await counts(engine))["customers"] == 0
    await import_ok(engine, "customers", write_csv(tmp_path / "ok.csv", "external_id,name\nC1,A\n"))
    assert (await counts(engine))["customers"] == 1


async def test_missing_file_is_refused_with_a_clear_error(engine, tmp_path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        await import_csv(engine, "customers", tmp_path / "nope.csv")
    await import_ok(engine, "customers", write_csv(tmp_path / "ok.csv", "external_id,name\nC1,A\n"))


async def test_empty_file_is_a_bad_file(engine, tmp_path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    report = await import_csv(engine, "customers", path)

    assert [(e.line, e.reason) for e in report.errors] == [
        (1, "the file is empty (expected a header row)")
    ]


async def test_header_only_file_imports_zero_rows(engine, tmp_path) -> None:
    report = await import_csv(
        engine, "customers", write_csv(tmp_path / "h.csv", "external_id,name\n")
    )

    assert report.ok
    assert (report.rows, report.inserted, report.updated) == (0, 0, 0)
    assert (await counts(engine))["customers"] == 0


async def test_blank_lines_are_skipped_but_still_counted_as_lines(engine, tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", "external_id,name\n\nC1,A\n\n\nC2,\n\n")

    report = await import_csv(engine, "customers", path)

    assert report.rows == 2
    assert [e.line for e in report.errors] == [6]


async def test_unknown_kind_is_a_programming_error(tmp_path) -> None:
    # Refused before the database is touched, so no engine is needed.
    with pytest.raises(ValueError, match="unknown import kind 'refunds'"):
        await import_csv(None, "refunds", tmp_path / "x.csv")  # type: ignore[arg-type]


async def test_unreadable_csv_row_is_a_bad_row_with_its_line(engine, tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", 'external_id,name\nC1,"Acme"x\nC2,Good\n')

    report = await import_csv(engine, "customers", path)

    assert [e.line for e in report.errors] == [2]
    assert report.errors[0].reason.startswith("unreadable CSV")
    assert (await counts(engine))["customers"] == 0


async def test_unreadable_csv_row_counts_in_the_rows_of_the_report(engine, tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", 'external_id,name\nC1,"Acme"x\nC2,Good\n')

    report = await import_csv(engine, "customers", path)

    assert report.rows == 2
    assert report.summary() == "customers: 1 bad row(s) in 2 row(s); nothing imported"


async def test_unterminated_quote_is_reported_on_the_line_where_it_opens(engine, tmp_path) -> None:
    path = write_csv(
        tmp_path / "c.csv", 'external_id,name\nC1,Good\nC2,"Acme\nC3,Good\nC4,Good\nC5,Good\n'
    )

    report = await import_csv(engine, "customers", path)

    assert [e.line for e in report.errors] == [3], [str(e) for e in report.errors]
    assert (await counts(engine))["customers"] == 0


async def test_nul_character_in_a_value_is_a_bad_row_on_every_backend(engine, tmp_path) -> None:
    path = write_csv(tmp_path / "c.csv", "external_id,name\nC1,Ac\0me\nC2,Good\n")

    report = await import_csv(engine, "customers", path)

    assert [e.line for e in report.errors] == [2]
    assert (await counts(engine))["customers"] == 0
