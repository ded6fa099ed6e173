"""The built-in sequences and templates: they load, compile, render and do not overlap."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from sequences.definition_loading import (
    LIBRARY_DIR,
    find_overlaps,
    load_library,
    load_sequence_text,
    sequence_to_yaml,
    validate_directory,
)
from sequences.definitions import Kind
from sequences.templates import (
    LIBRARY_TEMPLATES,
    available,
    compile_check,
    render,
    render_text,
)

TEMPLATES = available([LIBRARY_TEMPLATES])
NO_INVOICES = {"onboarding_welcome", "onboarding_checklist"}
NO_PAY_LINK = {"dispute_received"} | NO_INVOICES  # never ask to pay what is disputed
CHECKLIST = [
    {"item": "Billing contact confirmed", "done": True},
    {"item": "Tax form received", "done": False},
    {"item": "Payment method set up", "done": False},
]


def invoice(number: str, amount: str, currency: str, due: date) -> dict[str, Any]:
    value = Decimal(amount)
    return {
        "number": number,
        "amount": value,
        "open_amount": value,
        "currency": currency,
        "issue_date": date(2025, 1, 15),
        "due_date": due,
        "days_overdue": 12,
    }


def ledger(
    language: str, country: str, invoices: list[dict[str, Any]], pay_url: str | None
) -> dict[str, Any]:
    total: dict[str, Decimal] = {}
    for inv in invoices:
        total[inv["currency"]] = total.get(inv["currency"], Decimal(0)) + inv["open_amount"]
    return {
        "customer": {"name": "Nordwind Logistik GmbH", "language": language, "country": country},
        "contact": {"name": "Jana Weber", "address": "ap@nordwind.example"},
        "invoices": invoices,
        "total": total,
        "pay_url": pay_url,
        "collector": {"name": "Sam Reyes", "email": "sam@example.com"},
        "checklist": CHECKLIST,
    }


class Case(NamedTuple):
    context: dict[str, Any]
    shown: list[str]  # amounts and due dates as the customer's locale writes them
    total: str | None  # shown when there are several invoices


CASES = {
    "eur_de": Case(
        ledger(
            "de",
            "DE",
            [
                invoice("RE-2025-0141", "1234.50", "EUR", date(2025, 3, 3)),
                invoice("RE-2025-0187", "89.90", "EUR", date(2025, 3, 17)),
            ],
            "https://pay.example.com/c/nordwind",
        ),
        ["1.234,50\xa0€", "89,90\xa0€", "03.03.2025", "17.03.2025"],
        "1.324,40\xa0€",
    ),
    "usd_us": Case(
        ledger("en", "US", [invoice("INV-1001", "1234.50", "USD", date(2025, 3, 3))], None),
        ["$1,234.50", "Mar 3, 2025"],
        None,
    ),
    "jpy_jp": Case(
        ledger(
            "ja",
            "JP",
            [invoice("JP-77", "150000", "JPY", date(2025, 3, 3))],
            "https://p.example/77",
        ),
        ["￥150,000", "2025/03/03"],
        None,
    ),
}


def test_library_has_the_four_kinds() -> None:
    sequences = load_library()
    assert sorted(s.name for s in sequences) == [
        "disputes-standard",
        "invoicing-standard",
        "onboarding-standard",
        "past-due-standard",
    ]
    assert {s.kind for s in sequences} == set(Kind)


def test_every_built_in_sequence_loads_with_no_problem() -> None:
    assert validate_directory(LIBRARY_DIR) == []


def test_no_built_in_pair_overlaps() -> None:
    assert find_overlaps(load_library()) == []


def test_built_in_sequences_round_trip_through_yaml() -> None:
    for seq in load_library():
        assert load_sequence_text(sequence_to_yaml(seq)) == seq


def test_past_due_standard_is_the_spec_example() -> None:
    seq = next(s for s in load_library() if s.name == "past-due-standard")
    assert [s.at for s in seq.steps] == ["due+1d", "due+7d", "due+10d", "due+14d", "due+30d"]
    assert seq.steps[1].variants == ("past_due_firm", "past_due_firm_short")
    assert seq.steps[3].repeat is not None and seq.steps[3].repeat.times == 4
    assert seq.steps[4].escalate == ("managers",)


def test_onboarding_chases_the_checklist() -> None:
    seq = next(s for s in load_library() if s.name == "onboarding-standard")
    assert seq.steps[0].checklist == (
        "Billing contact confirmed",
        "Tax form received",
        "Payment method set up",
    )


def test_every_template_file_compiles() -> None:
    files = sorted(LIBRARY_TEMPLATES.iterdir())
    assert len(files) > 3 * len(TEMPLATES) - 1
    for path in files:
        assert compile_check(path.read_text("utf-8")) is None, path.name


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_a_realistic_message(name: str, case: str) -> None:
    ctx, shown, total = CASES[case]
    message = render(name, ctx)
    assert message.subject and "\n" not in message.subject and len(message.subject) < 120
    assert message.html is not None and message.html.lstrip().startswith("<!DOCTYPE html>")
    assert "Jana Weber" in message.text and "Sam Reyes" in message.text
    assert "None" not in message.text + message.html
    for part in (message.text, message.html):
        if name in NO_INVOICES:
            assert "Tax form received" in part
            continue
        expected = [inv["number"] for inv in ctx["invoices"]] + shown + ([total] if total else [])
        for text in expected:
            assert text in part, (text, part)
        if ctx["pay_url"] and name not in NO_PAY_LINK:
            assert ctx["pay_url"] in part


def test_pay_link_appears_only_when_there_is_one() -> None:
    with_link = CASES["eur_de"].context
    without = {**with_link, "pay_url": None}
    for name in set(TEMPLATES) - NO_PAY_LINK:
        assert with_link["pay_url"] in render(name, with_link).text
        message = render(name, without)
        assert "http" not in message.text and "Pay now" not in (message.html or "")


def test_every_built_in_task_renders() -> None:
    ctx = CASES["eur_de"].context
    tasks = [step.task for seq in load_library() for step in seq.steps if step.task]
    assert len(tasks) == 3
    for task in tasks:
        text = render_text(task, ctx)
        assert "Nordwind Logistik GmbH" in text and "{" not in text
    assert "Call Nordwind Logistik GmbH about 2 overdue invoice(s)" in render_text(tasks[-1], ctx)
