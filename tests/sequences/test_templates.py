"""Templates: the sandbox, strict variables, money and dates in the customer's locale."""

from __future__ import annotations

import os
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import babel.localedata
import pytest
from babel.numbers import format_currency, get_currency_precision
from hypothesis import given, settings
from hypothesis import strategies as st

from sequences.messages import fill_pay_url
from sequences.templates import (
    LIBRARY_TEMPLATES,
    RenderedMessage,
    SandboxViolation,
    TemplateError,
    available,
    compile_check,
    customer_locale,
    money,
    refresh,
    render,
    render_inline,
    render_text,
)


def context(**overrides: Any) -> dict[str, Any]:
    invoice = {
        "number": "INV-7",
        "amount": Decimal("1234.50"),
        "open_amount": Decimal("1234.50"),
        "currency": "USD",
        "issue_date": date(2025, 1, 2),
        "due_date": date(2025, 2, 1),
        "days_overdue": 3,
    }
    base = {
        "customer": {"name": "Acme <b>&</b> Co", "language": "en", "country": "US"},
        "invoices": [invoice],
        "total": {"USD": Decimal("1234.50")},
        "pay_url": "https://pay.example.com/x?a=1&b=2",
    }
    return {**base, **overrides}


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ customer.name.__class__ }}",
        "{{ ''['__class__'] }}",
        "{{ joiner.__init__.__globals__['os'] }}",
    ],
)
def test_reaching_outside_the_sandbox_is_refused_at_render(source: str) -> None:
    with pytest.raises(SandboxViolation, match="outside the sandbox"):
        render_text(source, context())


@pytest.mark.parametrize(
    "source", ["{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__ }}"]
)
def test_reaching_outside_the_sandbox_is_refused_at_compile(source: str) -> None:
    problem = compile_check("Hello\n" + source)
    assert problem is not None and problem.line == 2 and "not allowed" in problem.message


def test_template_files_cannot_escape_either(tmp_path: Path) -> None:
    folder = write(tmp_path, {"evil.subject.txt": "x", "evil.body.txt": "{{ cycler.__init__ }}"})
    with pytest.raises(SandboxViolation, match="template 'evil'"):
        render("evil", context(), [folder])


def test_templates_cannot_change_the_data_they_are_given() -> None:
    invoices = [{"number": "INV-1"}]
    with pytest.raises(SandboxViolation):
        render_text("{{ invoices.append(1) }}", context(invoices=invoices))
    assert invoices == [{"number": "INV-1"}]


def test_a_typo_in_a_variable_is_an_error_at_render() -> None:
    with pytest.raises(TemplateError, match="'custmer' is undefined"):
        render_text("Hello {{ custmer.name }}", context())
    with pytest.raises(TemplateError, match="nmae"):
        render_text("Hello {{ customer.nmae }}", context())


def test_missing_optional_variables_default_to_empty() -> None:
    text = render_text(
        "{% if pay_url %}pay{% endif %}{{ invoices | length }}{{ collector }}",
        {"customer": {"name": "A"}},
    )
    assert text == "0None"


def test_compile_check_reports_the_line_of_a_syntax_error() -> None:
    problem = compile_check("Hello {{ customer.name }},\n\n{% if pay_url %}\nPay now\n")
    assert problem is not None and problem.line == 4
    assert "endif" in problem.message


def test_compile_check_reports_an_unknown_filter_with_a_suggestion() -> None:
    problem = compile_check("Total:\n{{ total | mony }}")
    assert problem is not None and problem.line == 2
    assert "mony" in problem.message and problem.hint == "did you mean 'money'?"


def test_compile_check_reports_an_unknown_variable_with_a_suggestion() -> None:
    problem = compile_check(
        "{% for i in invoices %}{{ i.number }}{% endfor %}\n{{ colector.name }}"
    )
    assert problem is not None and problem.line == 2
    assert problem.message == "unknown variable 'colector'" and "'collector'" in problem.hint
    assert compile_check("{{ colector }}", variables=None) is None


def test_compile_check_accepts_a_good_template() -> None:
    source = "{% set n = invoices | length %}{{ n }} {{ loop_free }}"
    assert compile_check(source, variables=["invoices", "loop_free"]) is None


def test_render_reads_subject_text_and_html_parts(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "hello.subject.txt": "Invoice\n{{ invoices | numbers }}\n",
            "hello.body.txt": "Dear {{ customer.name }}, pay {{ pay_url }}\n\n",
            "hello.body.html": "<p>Dear {{ customer.name }}, <a href='{{ pay_url }}'>pay</a></p>",
        },
    )
    message = render("hello", context(), [folder])
    assert message.subject == "Invoice INV-7"
    assert message.text == "Dear Acme <b>&</b> Co, pay https://pay.example.com/x?a=1&b=2\n"
    assert message.html == (
        "<p>Dear Acme &lt;b&gt;&amp;&lt;/b&gt; Co, "
        "<a href='https://pay.example.com/x?a=1&amp;b=2'>pay</a></p>"
    )


def test_html_part_is_optional(tmp_path: Path) -> None:
    folder = write(tmp_path, {"t.subject.txt": "S", "t.body.txt": "B"})
    assert render("t", context(), [folder]).html is None


def test_a_template_comes_whole_from_the_first_folder_that_has_it(tmp_path: Path) -> None:
    ours = write(
        tmp_path / "ours",
        {"past_due_gentle.subject.txt": "Ours", "past_due_gentle.body.txt": "Our body"},
    )
    message = render("past_due_gentle", context(), [ours, LIBRARY_TEMPLATES])
    assert (message.subject, message.text, message.html) == ("Ours", "Our body\n", None)
    library = render("past_due_firm", context(), [ours, LIBRARY_TEMPLATES])
    assert library.html is not None


def test_partials_are_shared_and_overridable(tmp_path: Path) -> None:
    ours = write(tmp_path, {"_signature.txt": "Cheers, the AR desk\n"})
    message = render("past_due_gentle", context(), [ours, LIBRARY_TEMPLATES])
    assert message.text.endswith("Cheers, the AR desk\n")
    assert "_signature" not in available([ours, LIBRARY_TEMPLATES])


def test_missing_template_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="template 'nope' not found"):
        render("nope", context(), [tmp_path])
    write(tmp_path, {"half.body.txt": "B"})
    with pytest.raises(TemplateError, match=r"half\.subject\.txt not found"):
        render("half", context(), [tmp_path])


def test_inline_subject_and_body_render_the_same_way() -> None:
    message = render_inline(
        "Invoice {{ invoices | numbers }}", "Pay {{ total | money }}\n", context()
    )
    assert message.subject == "Invoice INV-7" and message.text == "Pay $1,234.50\n"
    assert message.html is None
    with pytest.raises(SandboxViolation):
        render_inline(None, "{{ ''.__class__ }}", context())


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (Decimal("1234.50"), "EUR", "de_DE", "1.234,50\xa0€"),
        (Decimal("1234.5"), "USD", "en_US", "$1,234.50"),
        (Decimal("123456"), "JPY", "ja_JP", "￥123,456"),
        (Decimal("123456.5"), "JPY", "en_US", "¥123,457"),  # half up, not half even
        (Decimal("0.005"), "USD", "en_US", "$0.01"),
        (1234, "EUR", "fr_FR", "1\u202f234,00\xa0€"),
        ("99.99", "GBP", "en_GB", "£99.99"),
    ],
)
def test_money_formats_for_the_locale(
    amount: object, currency: str, locale: str, expected: str
) -> None:
    assert money(amount, currency, locale) == expected


def test_money_refuses_floats_and_needs_a_currency() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        money(1234.5, "EUR")
    with pytest.raises(ValueError, match="currency"):
        money(Decimal(1))
    with pytest.raises(TemplateError, match="Decimal"):
        render_text("{{ 1.5 | money('EUR') }}", context())


def test_money_joins_totals_in_several_currencies() -> None:
    total = {"EUR": Decimal("10"), "USD": Decimal("2.5")}
    assert money(total, locale="de_DE") == "10,00\xa0€ + 2,50\xa0$"


def test_filters_use_the_customer_locale_unless_told() -> None:
    ctx = context(customer={"name": "X", "language": "de", "country": "AT"})
    source = "{{ invoices[0].open_amount | money('EUR') }} {{ invoices[0].due_date | date }}"
    assert render_text(source, ctx) == "€\xa01.234,50 01.02.2025"  # de_AT: € first
    assert render_text("{{ invoices[0].due_date | date('long') }}", context()) == "February 1, 2025"
    assert render_text("{{ 5 | money('EUR', 'de_DE') }}", context()) == "5,00\xa0€"
    assert render_text("{{ 5 | money('EUR') }}", {**ctx, "locale": "en_IE"}) == "€5.00"


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        ({"language": "de", "country": "DE"}, "de_DE"),
        ({"language": "pt-BR", "country": "PT"}, "pt_BR"),
        ({"language": "fr", "country": "US"}, "fr"),
        ({"language": None, "country": "jp"}, "ja_JP"),
        ({"language": "xx", "country": None}, "en_US"),
        ({}, "en_US"),
        (None, "en_US"),
        (SimpleNamespace(language="es", country="MX"), "es_MX"),
    ],
)
def test_customer_locale(customer: object, expected: str) -> None:
    assert customer_locale(customer) == expected


_LOCALES = sorted(babel.localedata.locale_identifiers())
_CURRENCIES = ["USD", "EUR", "JPY", "GBP", "INR", "CHF", "KWD", "BRL", "CLF", "XOF"]


@settings(max_examples=400, deadline=None)
@given(
    locale=st.sampled_from(_LOCALES),
    currency=st.sampled_from(_CURRENCIES),
    amount=st.decimals(min_value=-(10**12), max_value=10**12, places=4, allow_nan=False),
)
def test_money_is_exactly_babels_format_currency(locale: str, currency: str, amount: Decimal):
    # money() caches what babel looks up on every call; its output must not change.
    quantum = Decimal(1).scaleb(-get_currency_precision(currency))
    expected = format_currency(amount.quantize(quantum, ROUND_HALF_UP), currency, locale=locale)
    assert money(amount, currency, locale) == expected


def test_the_pay_link_encodes_each_value_so_a_number_can_not_change_the_link():
    url = "https://pay.example.test/{customer}/pay?invoice={invoice}&amount={amount}"
    filled = fill_pay_url(url, invoice="INV 7&x=1", customer="ACME/EU", amount=Decimal("12.5"))
    assert filled == "https://pay.example.test/ACME%2FEU/pay?invoice=INV%207%26x%3D1&amount=12.50"
    both = fill_pay_url(url, invoice="INV-1,INV-2", customer="C1", amount=None)
    assert both == "https://pay.example.test/C1/pay?invoice=INV-1,INV-2&amount="


def test_an_edited_template_is_used_from_the_next_refresh_on(tmp_path: Path) -> None:
    # Templates are read once, not stat-ed per message; a tick calls refresh() first.
    (tmp_path / "note.subject.txt").write_text("Hi")
    body = tmp_path / "note.body.txt"
    body.write_text("First {{ customer.name }}")
    ctx = context(customer={"name": "ACME"})
    assert render("note", ctx, [tmp_path]).text == "First ACME\n"
    body.write_text("Second {{ customer.name }}")
    os.utime(body, (body.stat().st_atime, body.stat().st_mtime + 10))
    (tmp_path / "note.body.html").write_text("<p>{{ customer.name }}</p>")
    assert render("note", ctx, [tmp_path]).html is None  # not looked at again yet
    refresh()
    again = render("note", ctx, [tmp_path])
    assert (again.text, again.html) == ("Second ACME\n", "<p>ACME</p>")


def test_telegram_gets_the_templates_own_chat_words_and_no_html(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {"t.subject.txt": "S {{ invoices | numbers }}", "t.body.txt": "Dear {{ customer.name }}",
         "t.body.html": "<p>Dear</p>", "t.telegram.txt": "Hi {{ customer.name }}"},
    )  # fmt: skip
    chat = render("t", context(), [folder], channel="telegram")
    assert (chat.subject, chat.text, chat.html) == ("S INV-7", "Hi Acme <b>&</b> Co\n", None)
    mail = render("t", context(), [folder])
    assert (mail.text, mail.html) == ("Dear Acme <b>&</b> Co\n", "<p>Dear</p>")


def test_without_chat_words_telegram_gets_the_email_text(tmp_path: Path) -> None:
    folder = write(tmp_path, {"t.subject.txt": "S", "t.body.txt": "B", "t.body.html": "<p>B</p>"})
    assert render("t", context(), [folder], channel="telegram") == RenderedMessage("S", "B\n")


@pytest.mark.parametrize("name", available([LIBRARY_TEMPLATES]))
def test_every_library_template_speaks_to_telegram_in_its_own_words(name: str) -> None:
    assert (LIBRARY_TEMPLATES / f"{name}.telegram.txt").is_file()
    one = context()
    two = context(invoices=[*one["invoices"], {**one["invoices"][0], "number": "INV-8"}])
    for ctx in (one, two):
        chat = render(name, ctx, channel="telegram")
        assert chat.html is None and chat.text.startswith("Hi ")
        assert len(chat.text) < len(render(name, ctx).text)  # shorter than the email
        assert "INV-7" in chat.text or not ctx["invoices"] or name.startswith("onboarding")
