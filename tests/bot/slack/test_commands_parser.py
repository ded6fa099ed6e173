"""The `/ar` grammar (pure): typed commands, and a precise error with the usage line."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bot.slack import command_parser as p
from bot.slack.command_parser import USAGE, UsageError, parse


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", p.Help()),
        ("help", p.Help()),
        ("HELP", p.Help()),
        ("status ACME", p.Status("ACME")),
        ('status "Acme Corp"', p.Status("Acme Corp")),
        ("status \u201cAcme Corp\u201d", p.Status("Acme Corp")),  # Slack's curly quotes
        ("status O'Brien", p.Status("O'Brien")),
        ("sequences", p.Sequences()),
        ("sequence show past-due-standard", p.SequenceShow("past-due-standard")),
        ("sequence new", p.SequenceNew()),
        ("enroll ACME past-due", p.Enroll(p.Target("ACME"), "past-due")),
        ("unenroll INV-1 past-due", p.Unenroll(p.Target("INV-1"), "past-due")),
        ("pause ACME", p.Pause(p.Target("ACME"))),
        ("pause ACME 7d", p.Pause(p.Target("ACME"), duration=timedelta(days=7))),
        ("pause ACME 2w holiday", p.Pause(p.Target("ACME"), timedelta(days=14), None, "holiday")),
        ("pause INV-1 until 2026-04-01 audit of the books",
         p.Pause(p.Target("INV-1"), None, date(2026, 4, 1), "audit of the books")),
        ("pause sequence:past-due", p.Pause(p.Target("sequence:past-due", "past-due"))),
        ("resume sequence:past-due", p.Resume(p.Target("sequence:past-due", "past-due"))),
        ("resume ACME", p.Resume(p.Target("ACME"))),
        ("dispute INV-1 item #3 missing", p.OpenDispute("INV-1", "item #3 missing")),
        ("dispute INV-1 wrong &amp; late", p.OpenDispute("INV-1", "wrong & late")),
        ("resolve INV-1 credit note issued", p.Resolve("INV-1", "credit note issued")),
        ("promise INV-1 2026-03-10", p.PromiseToPay("INV-1", date(2026, 3, 10))),
        ("promise INV-1 2026-03-10 1250.5",
         p.PromiseToPay("INV-1", date(2026, 3, 10), Decimal("1250.5"))),
        ("tasks", p.Tasks()),
        ("tasks <@U0123ABC|bob>", p.Tasks("U0123ABC")),
        ("tasks <@W0123ABC>", p.Tasks("W0123ABC")),
        ("kpi", p.Kpi()),
        ("preview past-due ACME", p.Preview("past-due", "ACME")),
        ('preview past-due "Acme Corp"', p.Preview("past-due", "Acme Corp")),
        ("link ACME", p.Link("ACME")),
        ("checklist ACME", p.ChecklistCommand("ACME")),
        ('checklist "Acme Corp" tax form', p.ChecklistCommand("Acme Corp", "tax form")),
    ],
)  # fmt: skip
def test_each_subcommand_parses_to_its_typed_command(text, command):
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "message", "usage"),
    [
        ("statsu ACME", "unknown subcommand 'statsu' (did you mean 'status'?)", "help"),
        ("frobnicate", "unknown subcommand 'frobnicate'; try /ar help", "help"),
        ('status "Acme', "a quote is not closed", "help"),
        ("status", "missing CUSTOMER", "status"),
        ("status Acme Corp", "unexpected 'Corp' (quote a name with spaces)", "status"),
        ("sequences all", "unexpected 'all'", "sequences"),
        ("sequence show", "missing NAME", "sequence show"),
        ("sequence new now", "unexpected 'now'", "sequence new"),
        ("enroll", "missing CUSTOMER|INVOICE", "enroll"),
        ("enroll ACME", "missing SEQUENCE", "enroll"),
        ("enroll sequence:x y", "enroll a customer or an invoice, not a sequence", "enroll"),
        ("unenroll ACME", "missing SEQUENCE", "unenroll"),
        ("unenroll sequence:x y", "unenroll a customer or an invoice", "unenroll"),
        ("pause", "missing CUSTOMER|INVOICE|sequence:NAME", "pause"),
        ("pause sequence:", "missing the sequence name after 'sequence:'", "pause"),
        ("pause ACME 7days", "bad duration '7days': expected a number of days like 7d", "pause"),
        ("pause ACME 0d", "bad duration '0d': must be at least 1d", "pause"),
        ("pause ACME until", "missing the date after 'until'", "pause"),
        ("pause ACME until tomorrow", "bad date 'tomorrow': expected YYYY-MM-DD", "pause"),
        ("pause ACME until 2026-13-01", "bad date '2026-13-01': no such day", "pause"),
        ("resume", "missing CUSTOMER|INVOICE|sequence:NAME", "resume"),
        ("resume ACME 7d", "unexpected '7d'", "resume"),
        ("dispute", "missing INVOICE", "dispute"),
        ("dispute INV-1", "missing the reason", "dispute"),
        ("resolve", "missing INVOICE", "resolve"),
        ("resolve INV-1", "missing the resolution", "resolve"),
        ("promise", "missing INVOICE", "promise"),
        ("promise INV-1", "missing the date YYYY-MM-DD", "promise"),
        ("promise INV-1 10/03/2026", "bad date '10/03/2026': expected YYYY-MM-DD", "promise"),
        ("promise INV-1 2026-02-30", "bad date '2026-02-30': no such day", "promise"),
        ("promise INV-1 2026-03-10 1,000", "bad amount '1,000'", "promise"),
        ("promise INV-1 2026-03-10 -5", "bad amount '-5'", "promise"),
        ("promise INV-1 2026-03-10 0", "bad amount '0': must be more than 0", "promise"),
        ("promise INV-1 2026-03-10 12.345", "bad amount '12.345'", "promise"),
        ("promise INV-1 2026-03-10 5 USD", "unexpected 'USD'", "promise"),
        ("tasks bob", "'bob' is not a user", "tasks"),
        ("tasks <@U1> <@U2>", "unexpected '<@U2>'", "tasks"),
        ("kpi today", "unexpected 'today'", "kpi"),
        ("preview past-due", "missing CUSTOMER", "preview"),
        ("link", "missing CUSTOMER", "link"),
        ("checklist", "missing CUSTOMER", "checklist"),
        ("help me", "unexpected 'me'", "help"),
    ],
)  # fmt: skip
def test_malformed_input_names_the_problem_and_the_usage_line(text, message, usage):
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert message in caught.value.message
    assert caught.value.usage == USAGE[usage]


@pytest.mark.parametrize("text", ["sequence", "sequence edit x"])
def test_sequence_without_show_or_new_shows_both_usage_lines(text):
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert USAGE["sequence show"] in caught.value.usage
    assert USAGE["sequence new"] in caught.value.usage


def test_every_subcommand_has_a_usage_line_and_a_summary():
    assert set(p.USAGE) == set(p.SUMMARY) == set(p.SUBCOMMANDS)
    assert all(usage.startswith(f"/ar {name}") for name, usage in USAGE.items())
