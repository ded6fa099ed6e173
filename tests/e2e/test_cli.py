"""The `arseq` command line as a user runs it: exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

SPEC_COMMANDS = [
    "run",
    "worker",
    "demo",
    "tick",
    "import",
    "sequences",
    "preview",
    "kpi",
    "digest",
    "db",
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_help_lists_every_command_of_the_spec(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for command in SPEC_COMMANDS:
        assert f"  {command} " in out
    code, out, _ = cli("sequences", "--help")
    assert "validate" in out and "load" in out


def test_db_upgrade_on_an_empty_database_then_again(cli):
    code, out, _ = cli("db", "upgrade")
    assert code == 0 and "upgraded from empty" in out
    code, out, _ = cli("db", "upgrade")
    assert code == 0 and "already at revision" in out


def test_db_upgrade_on_postgresql(cli, empty_db_url):
    code, out, err = cli("db", "upgrade", db_url=empty_db_url)
    assert code == 0, err
    code, out, _ = cli("db", "upgrade", db_url=empty_db_url)
    assert code == 0 and "already at revision" in out


def test_import_before_upgrade_says_what_to_run(cli, tmp_path):
    csv = _write(tmp_path / "c.csv", "external_id,name\nC1,Acme\n")
    code, _, err = cli("import", "customers", str(csv))
    assert code == 1
    assert err.strip() == "arseq: the database has no ARSeq tables yet: run `arseq db upgrade`"


def test_import_success_prints_one_summary_line(cli, tmp_path, db_url):
    csv = _write(tmp_path / "c.csv", "external_id,name\nC1,Acme\nC2,Zoë\n")
    code, out, err = cli("import", "customers", str(csv), db_url=db_url)
    assert code == 0, err
    assert out.strip().startswith("customers: imported 2 row(s): 2 new, 0 updated")
    code, out, _ = cli("import", "customers", str(csv), "--dry-run", db_url=db_url)
    assert code == 0 and "would import 2 row(s): 0 new, 2 updated" in out


def test_a_bad_file_lists_every_bad_row_and_exits_1(cli, tmp_path, db_url):
    cli(
        "import",
        "customers",
        str(_write(tmp_path / "c.csv", "external_id,name\nC1,A\n")),
        db_url=db_url,
    )
    bad = _write(
        tmp_path / "i.csv",
        "number,customer_external_id,issue_date,due_date,amount\n"
        "I1,C1,2026-01-01,2026-01-31,10\n"
        "I2,NOPE,2026-01-01,2026-01-31,10\n"
        "I3,C1,2026-13-01,2026-01-31,10\n",
    )
    code, out, err = cli("import", "invoices", str(bad), db_url=db_url)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "i.csv: line 3: unknown customer 'NOPE'",
        "i.csv: line 4: bad date in issue_date: '2026-13-01' (expected YYYY-MM-DD)",
        "arseq: invoices: 2 bad row(s) in 3 row(s); nothing imported",
    ]


def test_overpayment_is_reported_not_refused(cli, tmp_path, db_url):
    cli("db", "upgrade", db_url=db_url)
    cli(
        "import",
        "customers",
        str(_write(tmp_path / "c.csv", "external_id,name\nC1,A\n")),
        db_url=db_url,
    )
    cli(
        "import",
        "invoices",
        str(
            _write(
                tmp_path / "i.csv",
                "number,customer_external_id,issue_date,due_date,amount\nI1,C1,2026-01-01,2026-01-31,10\n",
            )
        ),
        db_url=db_url,
    )
    code, out, _ = cli(
        "import",
        "payments",
        str(_write(tmp_path / "p.csv", "invoice_number,paid_at,amount\nI1,2026-02-01,12.5\n")),
        db_url=db_url,
    )
    assert code == 0
    assert "overpayment: invoice I1 overpaid by 2.50 USD, kept as a credit" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["import", "vendors", "x.csv"], "'vendors' is not one of"),
        (["import", "customers"], "Missing argument"),
        (["demo", "--days", "0"], "--days"),
        (["frobnicate"], "No such command"),
        (["tick", "--now", "yesterday"], "--now: expected an ISO-8601 instant"),
    ],
)
def test_bad_usage_exits_2_with_one_line(cli, args, fragment):
    code, _, err = cli(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arseq: ") and fragment in lines[0]


def test_a_bad_setting_stops_with_the_variable_named(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("ARSEQ_TIMEZONE", "Mars/Base")
    code, _, err = cli("db", "upgrade")
    assert code == 2
    assert err.strip() == "arseq: ARSEQ_TIMEZONE: unknown time zone 'Mars/Base' (use an IANA name)"


def test_several_bad_settings_are_one_line_each(cli, monkeypatch):
    monkeypatch.setenv("ARSEQ_TIMEZONE", "Mars/Base")
    monkeypatch.setenv("ARSEQ_DIGEST_TIME", "25:00")
    code, _, err = cli("kpi")
    assert code == 2
    assert err.splitlines() == [
        "arseq: ARSEQ_TIMEZONE: unknown time zone 'Mars/Base' (use an IANA name)",
        "arseq: ARSEQ_DIGEST_TIME: expected HH:MM (24-hour), got '25:00'",
    ]


def test_an_unreachable_database_is_one_line(cli, tmp_path):
    csv = _write(tmp_path / "c.csv", "external_id,name\nC1,A\n")
    code, _, err = cli(
        "import", "customers", str(csv), db_url="postgresql+asyncpg://u@127.0.0.1:1/none"
    )
    assert code == 1
    assert err.startswith("arseq: cannot reach the database postgresql+asyncpg://u@127.0.0.1:1/")
    assert len(err.strip().splitlines()) == 1


def test_a_missing_file_is_one_line(cli):
    code, _, err = cli("import", "customers", "nowhere.csv")
    assert (code, err.strip()) == (1, "arseq: no such file: nowhere.csv")
