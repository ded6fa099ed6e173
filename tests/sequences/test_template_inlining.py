"""Partials compiled into the templates that include them render exactly as includes do."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jinja2 import StrictUndefined, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sequences import templates
from sequences.templates import (
    LIBRARY_TEMPLATES,
    TemplateError,
    available,
    environment,
    refresh,
    render,
)


def _invoice(number: str, amount: str, due: date) -> dict[str, Any]:
    value = Decimal(amount)
    return {"number": number, "amount": value, "open_amount": value, "currency": "EUR",
            "issue_date": date(2026, 1, 2), "due_date": due, "days_overdue": 9,
            "settled": False, "pay_url": None}  # fmt: skip


CONTEXTS = [
    {"customer": {"name": "Acme <b>&</b> Co", "language": "de", "country": "DE"},
     "invoices": [_invoice("A-1", "1234.50", date(2026, 2, 1))],
     "total": {"EUR": Decimal("1234.50")}},
    {"customer": {"name": "Globex", "language": "en", "country": "GB"},
     "contact": {"name": "Jo", "address": "jo@globex.test"},
     "invoices": [_invoice("G-1", "10", date(2026, 2, 1)),
                  _invoice("G-2", "5.25", date(2026, 3, 1))],
     "total": {"EUR": Decimal("15.25")}, "pay_url": "https://pay.test/x?a=1&b=2",
     "collector": {"name": "Sam Lee", "email": "sam@ar.test"},
     "checklist": [{"item": "W-9", "done": True}, {"item": "PO", "done": False}]},
    {"customer": {"name": "Nobody"}},
]  # fmt: skip


def _outcome(template: Any, ctx: dict[str, Any]) -> tuple[str, str]:
    """What rendering gives: its text, or the error it raises."""
    try:
        return "text", template.render(ctx)
    except Exception as exc:  # compared, whatever it is
        return type(exc).__name__, str(exc)


def _plain_jinja(dirs: list[Path]) -> ImmutableSandboxedEnvironment:
    """Jinja2's own sandbox with our options and loader: includes stay includes."""
    ours = environment(dirs)
    env = ImmutableSandboxedEnvironment(
        loader=ours.loader, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=True,
    )  # fmt: skip
    env.filters.update(ours.filters)
    return env


@pytest.mark.parametrize("name", available([LIBRARY_TEMPLATES]))
def test_every_library_template_renders_as_jinja_renders_its_includes(name: str) -> None:
    plain = _plain_jinja([LIBRARY_TEMPLATES])
    ours = environment()
    for part in ("subject.txt", "body.txt", "body.html", "telegram.txt"):
        for ctx in CONTEXTS:
            if not (LIBRARY_TEMPLATES / f"{name}.{part}").is_file():
                continue
            full = templates._context(ctx)
            expected = _outcome(plain.get_template(f"{name}.{part}"), full)
            assert _outcome(ours.get_template(f"{name}.{part}"), full) == expected, (part, ctx)


def test_a_library_text_looks_up_no_partial_when_it_renders() -> None:
    source = (LIBRARY_TEMPLATES / "past_due_firm.body.txt").read_text()
    code = environment().compile(source, "past_due_firm.body.txt", raw=True)
    assert "get_template" not in code
    assert "Accounts Receivable" in code  # the signature partial's own words


def _folder(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return [tmp_path]


@pytest.mark.parametrize(
    ("partial", "body"),
    [
        # A `set` inside an include stays there: the including template keeps its own.
        ('{% set who = "partial" %}{{ who }};',
         '{% set who = "own" %}{% include "_p.txt" %}{{ who }}'),
        # A loop variable of the including template is seen by the partial.
        ("[{{ invoice.number }}]",
         '{% for invoice in invoices %}{% include "_p.txt" %}{% endfor %}'),
        # `without context`, `ignore missing` and a name that is not a constant: includes.
        ("{{ 1 + 1 }}",
         '{% include "_p.txt" without context %}|{% include "_x.txt" ignore missing %}'),
        ("P", '{% include ["_q.txt", "_p.txt"] %}'),
        # A partial that includes itself (bounded by a condition) is left an include.
        ('{% if invoices %}{{ invoices | length }}{% include "_r.txt" with context %}{% endif %}',
         '{% include "_r.txt" %}'),
        # Nested partials are inlined all the way down.
        ('<{% include "_q2.txt" %}>', '{% include "_p.txt" %}'),
    ],
)  # fmt: skip
def test_what_an_include_keeps_to_itself_renders_as_jinja_renders_it(
    tmp_path: Path, partial: str, body: str
) -> None:
    dirs = _folder(
        tmp_path,
        {"_p.txt": partial, "_r.txt": partial, "_q2.txt": "q2", "t.subject.txt": "S",
         "t.body.txt": body},
    )  # fmt: skip
    ctx = templates._context(CONTEXTS[1] | {"invoices": []} if "_r.txt" in body else CONTEXTS[1])
    expected = _plain_jinja(dirs).get_template("t.body.txt").render(ctx)
    assert environment(dirs).get_template("t.body.txt").render(ctx) == expected


def test_an_html_part_escapes_its_own_text_and_not_a_text_partial(tmp_path: Path) -> None:
    dirs = _folder(
        tmp_path,
        {"_plain.txt": "{{ customer.name }}", "_rich.html": "<i>{{ customer.name }}</i>",
         "t.subject.txt": "S", "t.body.txt": "B",
         "t.body.html": '{% include "_plain.txt" %}|{% include "_rich.html" %}'},
    )  # fmt: skip
    html = render("t", {"customer": {"name": "A&B"}}, dirs).html
    assert html == "A&B|<i>A&amp;B</i>"


def test_a_missing_or_broken_partial_is_an_error_naming_it_when_rendered(tmp_path: Path) -> None:
    dirs = _folder(
        tmp_path,
        {"gone.subject.txt": "S", "gone.body.txt": 'Hi {% include "_gone.txt" %}',
         "broken.subject.txt": "S", "broken.body.txt": 'Hi {% include "_broken.txt" %}',
         "_broken.txt": "{% if %}"},
    )  # fmt: skip
    with pytest.raises(TemplateError, match=r"_gone\.txt not found"):
        render("gone", {"customer": {"name": "A"}}, dirs)
    with pytest.raises(TemplateError, match="line 1"):
        render("broken", {"customer": {"name": "A"}}, dirs)


def test_an_edited_partial_is_used_from_the_next_refresh_on(tmp_path: Path) -> None:
    dirs = _folder(
        tmp_path,
        {"t.subject.txt": "S", "t.body.txt": 'Hi{% include "_sign.txt" %}', "_sign.txt": ", Ann"},
    )  # fmt: skip
    inline_body = '{% include "_sign.txt" %}'
    ctx = {"customer": {"name": "A"}}
    assert render("t", ctx, dirs).text == "Hi, Ann\n"
    sign = tmp_path / "_sign.txt"
    sign.write_text(", Bob")
    os.utime(sign, (sign.stat().st_atime, sign.stat().st_mtime + 10))
    assert render("t", ctx, dirs).text == "Hi, Ann\n"  # not looked at again yet
    refresh()
    assert render("t", ctx, dirs).text == "Hi, Bob\n"
    assert environment(dirs).from_string(inline_body).render(ctx) == ", Bob"
