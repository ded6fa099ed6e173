"""`arseq sequences validate|load`, `arseq tick` and `arseq preview` as a user runs them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from storage.db import open_engine
from storage.models import Customer, OutboxMessage, Sequence

NOWHERE = "postgresql+asyncpg://u@127.0.0.1:1/none"
NUDGES = """\
name: my-nudges
kind: past_due
trigger: manual
exit_on: [paid]
steps:
  - at: due+2d
    send: email
    template: my_nudge
  - at: due+9d
    task: "Call {{ customer.name }}"
"""
BAD = """\
name: my-nudges
kind: past_due
trigger: manual
steps:
  - at: due+1x
    send: email
    template: past_due_gentle
  - at: due+7d
    send: emial
    template: past_due_firm
  - at: due+10d
    task: "Call {{ customer.name }}"
    colour: red
"""
CUSTOMERS = """\
external_id,name,email,timezone,country
C1,Acme Inc,ap@acme.test,UTC,
C2,Acme Holdings,ap@acmeh.test,America/New_York,US
C3,Globex,ap@globex.test,UTC,
"""
# On Tue 2026-02-10: INV-1 is a day overdue (gentle reminder), INV-2 is issued two days
# later, INV-3 is issued that day (invoice delivery).
INVOICES = """\
number,customer_external_id,issue_date,due_date,amount,currency
INV-1,C1,2026-01-10,2026-02-09,1200.50,USD
INV-2,C1,2026-02-12,2026-03-12,300,USD
INV-3,C3,2026-02-10,2026-03-12,99,USD
"""
TUESDAY = "2026-02-10T10:00Z"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _definitions(folder: Path, text: str = NUDGES) -> Path:
    _write(folder / "templates" / "my_nudge.subject.txt", "Nudge {{ invoices | numbers }}\n")
    _write(folder / "templates" / "my_nudge.body.txt", "Please pay {{ total | money }}.\n")
    return _write(folder / "nudges.yml", text)


def _count(db_url: str, table: type) -> int:
    async def count() -> int:
        async with open_engine(db_url) as engine, engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    return asyncio.run(count())


def _ledger(cli, tmp_path: Path, db_url: str) -> None:
    """Import the small ledger; its customers predate ARSeq, so none is onboarded."""
    for kind, text in (("customers", CUSTOMERS), ("invoices", INVOICES)):
        code, _, err = cli(
            "import", kind, str(_write(tmp_path / f"{kind}.csv", text)), db_url=db_url
        )
        assert code == 0, err

    async def backdate() -> None:
        async with open_engine(db_url) as engine, engine.begin() as conn:
            await conn.execute(
                update(Customer.__table__).values(created_at=datetime(2020, 1, 1, tzinfo=UTC))
            )

    asyncio.run(backdate())


# -- sequences validate / load -------------------------------------------------------------


def test_validate_a_good_folder_needs_no_database(cli, tmp_path):
    folder = tmp_path / "defs"
    _definitions(folder)
    code, out, err = cli("sequences", "validate", str(folder), db_url=NOWHERE)
    assert (code, out.strip(), err) == (0, "1 sequence(s) OK", "")


def test_validate_prints_every_problem_at_its_line(cli, tmp_path):
    bad = _write(tmp_path / "bad.yml", BAD)
    code, out, err = cli("sequences", "validate", str(bad), db_url=NOWHERE)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{bad}:5: steps.0.at: bad offset 'due+1x' "
        "(hint: like due+7d, due-3d, issued, start+2bd, opened+1bd)",
        f"{bad}:9: steps.1.send: Input should be 'email', 'telegram' or 'preferred' "
        "(hint: did you mean 'email'?)",
        f"{bad}:13: unknown key 'colour'",
        f"arseq: {bad}: 3 problem(s)",
    ]


def test_validate_reports_structural_and_template_problems_in_one_run(cli, tmp_path):
    text = BAD.replace("template: past_due_firm", "template: past_due_frim").replace(
        'task: "Call {{ customer.name }}"', 'task: "Call {{ customer.__init__ }}"'
    )
    bad = _write(tmp_path / "bad.yml", text)
    code, _, err = cli("sequences", "validate", str(bad), db_url=NOWHERE)
    assert code == 1
    lines = err.splitlines()
    assert lines[0].startswith(f"{bad}:5: steps.0.at: bad offset 'due+1x'")
    assert lines[1].startswith(f"{bad}:9: steps.1.send: Input should be")
    assert lines[2] == (
        f"{bad}:10: template 'past_due_frim' not found (hint: did you mean 'past_due_firm'?)"
    )
    assert lines[3].startswith(f"{bad}:12: task does not compile: '__init__' is not allowed")
    assert lines[4] == f"{bad}:13: unknown key 'colour'"
    assert lines[5:] == [f"arseq: {bad}: 5 problem(s)"]


def test_validate_refuses_what_load_would_refuse_beside_the_library(cli, tmp_path):
    clash = NUDGES.replace("trigger: manual", "trigger: invoice_overdue")
    file = _definitions(tmp_path / "clash", clash)
    code, out, err = cli("sequences", "validate", str(file), db_url=NOWHERE)
    assert (code, out) == (1, "")
    assert err.splitlines()[0].startswith(
        f"{file}:3: sequences 'past-due-standard' and 'my-nudges' both start on invoice_overdue"
    )
    # A new version of the library's own sequence replaces it: no overlap with itself.
    mine = _definitions(tmp_path / "mine", clash.replace("my-nudges", "past-due-standard"))
    code, out, err = cli("sequences", "validate", str(mine), db_url=NOWHERE)
    assert (code, out.strip(), err) == (0, "1 sequence(s) OK", "")


def test_validate_a_missing_path_is_one_line(cli):
    code, _, err = cli("sequences", "validate", "nowhere.yml")
    assert (code, err.strip()) == (1, "arseq: no such file or folder: nowhere.yml")


def test_load_stores_a_version_only_when_the_definition_changed(cli, tmp_path, db_url):
    folder = tmp_path / "defs"
    file = _definitions(folder)
    code, out, err = cli("sequences", "load", str(folder), db_url=db_url)
    assert (code, out, err) == (0, "my-nudges: version 1 (new)\n", "")
    code, out, _ = cli("sequences", "load", str(file), db_url=db_url)
    assert (code, out) == (0, "my-nudges: version 1 (unchanged)\n")
    file.write_text(NUDGES.replace("due+9d", "due+10d"), encoding="utf-8")
    code, out, _ = cli("sequences", "load", str(folder), db_url=db_url)
    assert (code, out) == (0, "my-nudges: version 2 (new)\n")


def test_load_refuses_a_bad_file_and_stores_nothing(cli, tmp_path, db_url):
    folder = tmp_path / "defs"
    _definitions(folder)
    _write(folder / "bad.yml", BAD.replace("my-nudges", "bad-nudges"))
    code, out, err = cli("sequences", "load", str(folder), db_url=db_url)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 4 and f"{folder / 'bad.yml'}:5: steps.0.at" in err
    assert err.splitlines()[-1] == f"arseq: {folder}: 3 problem(s); nothing stored"
    assert _count(db_url, Sequence) == 0


def test_load_refuses_a_sequence_that_would_double_a_stored_one(cli, tmp_path, db_url):
    file = _definitions(tmp_path, NUDGES.replace("trigger: manual", "trigger: invoice_overdue"))
    code, _, err = cli("sequences", "load", str(file), db_url=db_url)
    assert code == 1
    assert "'past-due-standard' and 'my-nudges' both start on invoice_overdue" in err
    assert err.splitlines()[0].startswith(f"{file}:3: ")
    assert _count(db_url, Sequence) == 0


# -- tick ------------------------------------------------------------------------------------


def test_tick_sends_what_is_due_to_the_console(cli, tmp_path, db_url):
    _ledger(cli, tmp_path, db_url)
    code, out, err = cli("tick", "--now", TUESDAY, db_url=db_url)
    assert code == 0, err
    assert (
        "[email 2026-02-10T10:00+00:00 -> ap@acme.test] | Friendly reminder: invoice INV-1" in out
    )
    assert "[email 2026-02-10T10:00+00:00 -> ap@globex.test] | Invoice INV-3: $99.00" in out
    assert "INV-2" not in out  # not due for anything yet
    assert out.splitlines()[-1] == (
        "2026-02-10T10:00+00:00: enrolled 3, due 3: 2 message(s) planned, 0 task(s), "
        "1 waiting, 0 held by the frequency cap; ended: none; "
        "sent 2, skipped 0, retried 0, failed 0"
    )
    code, out, _ = cli("tick", "--now", TUESDAY, db_url=db_url)  # the same instant again
    assert code == 0 and out.startswith("2026-02-10T10:00+00:00: enrolled 0, due 0")
    assert "sent 0," in out


def test_tick_until_every_day_prints_one_line_per_pass(cli, tmp_path, db_url):
    _ledger(cli, tmp_path, db_url)
    until = "2026-02-17T10:00Z"
    code, out, err = cli("tick", "--now", TUESDAY, "--until", until, "--every", "1d", db_url=db_url)
    assert code == 0, err
    passes = [line.split(": ")[0] for line in out.splitlines() if line.startswith("2026-")]
    assert passes == [f"2026-02-{day}T10:00+00:00" for day in range(10, 18)]
    # INV-1's firm reminder (due+7d) carries the simulated instant as its date.
    assert "[email 2026-02-16T10:00+00:00 -> ap@acme.test]" in out


def test_tick_help_says_where_messages_go(cli):
    code, out, _ = cli("tick", "--help")
    assert code == 0 and "configured channels" in out and "printed to the" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "soon", "--until", TUESDAY], "--every: expected a duration like 30m"),
        (["--every", "0h", "--until", TUESDAY], "--every: expected a duration like 30m"),
        (["--now", TUESDAY, "--until", "2026-02-09T10:00Z"], "--until must not be before --now"),
        (["--every", "1h"], "--every needs --until"),
    ],
)
def test_tick_bad_clock_exits_2_with_one_line(cli, args, message):
    code, out, err = cli("tick", *args, db_url=NOWHERE)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"arseq: {message}")


# -- preview ---------------------------------------------------------------------------------


def test_preview_shows_each_open_invoice_timeline_with_rendered_texts(cli, tmp_path, db_url):
    _ledger(cli, tmp_path, db_url)
    code, out, err = cli("preview", "past-due-standard", "Acme I", "--now", TUESDAY, db_url=db_url)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Preview of past-due-standard (built in, not stored yet) for ")
    assert "Acme Inc (C1)" in lines[0] and "nothing is sent" in lines[0]
    assert "Invoice INV-1: $1,200.50 open, issued 2026-01-10, due 2026-02-09" in lines
    assert "Invoice INV-2: $300.00 open, issued 2026-02-12, due 2026-03-12" in lines
    first, second = (line.split() for line in lines if "past_due_gentle" in line)
    assert first[:6] == ["1.", "Tue", "2026-02-10", "09:00", "UTC", "email"]
    assert first[-2:] == ["past_due_gentle", "(past)"]
    assert second[:4] == ["1.", "Fri", "2026-03-13", "09:00"] and "(past)" not in second
    assert "      Subject: Friendly reminder: invoice INV-1 is past due" in lines
    assert "      Subject: Friendly reminder: invoice INV-2 is past due" in lines
    assert "      - Invoice INV-2: $300.00, due Mar 12, 2026" in lines
    assert any("escalation managers" in line for line in lines)
    assert "      Call Acme Inc about 1 overdue invoice(s): INV-1 ($1,200.50)" in lines
    assert _count(db_url, OutboxMessage) == 0


def test_preview_shows_times_in_the_customers_zone(cli, tmp_path, db_url):
    _ledger(cli, tmp_path, db_url)
    _write(tmp_path / "more.csv", "number,customer_external_id,issue_date,due_date,amount\n"
           "INV-9,C2,2026-01-10,2026-02-09,10\n")  # fmt: skip
    cli("import", "invoices", str(tmp_path / "more.csv"), db_url=db_url)
    code, out, _ = cli("preview", "past-due-standard", "C2", "--now", TUESDAY, db_url=db_url)
    assert code == 0 and "times in America/New_York" in out
    assert "   1. Tue 2026-02-10 09:00 EST  email" in out


def test_preview_with_an_ambiguous_prefix_lists_the_matches(cli, tmp_path, db_url):
    _ledger(cli, tmp_path, db_url)
    code, out, err = cli("preview", "past-due-standard", "acme", db_url=db_url)
    assert code == 1 and out == ""
    assert err.strip() == (
        "arseq: 'acme' matches 2 customers: Acme Holdings (C2), Acme Inc (C1); use the external id"
    )


def test_preview_of_an_unknown_customer_or_sequence_exits_1(cli, tmp_path, db_url):
    _ledger(cli, tmp_path, db_url)
    code, _, err = cli("preview", "past-due-standard", "Initech", db_url=db_url)
    assert code == 1 and "no customer has the external id or a name starting with" in err
    code, _, err = cli("preview", "past-due-fancy", "C1", db_url=db_url)
    assert code == 1 and err.startswith("arseq: no sequence named 'past-due-fancy'; known: ")


def test_preview_of_a_customer_without_open_invoices_says_so(cli, tmp_path, db_url):
    _ledger(cli, tmp_path, db_url)
    code, out, _ = cli("preview", "past-due-standard", "C2", "--now", TUESDAY, db_url=db_url)
    assert code == 0 and out.splitlines()[-1] == "No open invoices: nothing to preview."
