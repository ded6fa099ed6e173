"""Message templates: Jinja2 in a sandbox, money and dates in the customer's locale.

A template NAME is a set of files in one directory: `NAME.subject.txt`, `NAME.body.txt`
(plain text, for email, and for Telegram unless the template has its own), optionally
`NAME.body.html` (email) and `NAME.telegram.txt` (a chat's shorter words; the buttons to
pay, promise or dispute come with it). Directories are
searched in order (a definition's own `templates/` first, then the built-in library);
every part of one template comes from the first directory that holds its `body.txt`.
Files starting with `_` are partials for `{% include %}` / `{% extends %}`.

Variables: `customer` (name, language, country, ...), `contact` (name, address or None),
`invoices` (number, amount, open_amount, currency, issue_date, due_date, days_overdue),
`total` (open amount per currency: {"EUR": Decimal(...)}), `pay_url` (or None),
`collector` (name, email or None), `checklist` (onboarding: item, done) and `locale`
(from the customer's language and country unless given).
Filters: `money`, `date`, `numbers` (the invoices' numbers, comma separated).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.languages import get_official_languages
from babel.numbers import (
    NumberPattern,
    get_currency_name,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
)
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    nodes,
    pass_context,
    select_autoescape,
)
from jinja2 import TemplateError as JinjaError
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context

from sequences.template_inlining import Sandbox

LIBRARY_TEMPLATES = Path(__file__).parent / "library" / "templates"
DEFAULT_LOCALE = "en_US"
VARIABLES = (
    *("customer", "contact", "invoices", "total", "pay_url", "collector", "checklist"),
    "locale",
)
_DEFAULTS: dict[str, Any] = {
    "contact": None,
    "invoices": (),
    "total": {},
    "pay_url": None,
    "collector": None,
    "checklist": (),
}
_IMPLICIT = {"loop", "self", "super", "caller", "varargs", "kwargs"}


@dataclass(frozen=True)
class Problem:
    """Something wrong in a definition or template, at a 1-based line of `source`."""

    line: int
    message: str
    hint: str = ""
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.source else f"line {self.line}"
        return f"{where}: {self.message}" + (f" ({self.hint})" if self.hint else "")


@dataclass(frozen=True)
class RenderedMessage:
    """A rendered template: one-line subject, plain text, and HTML when the template has it."""

    subject: str
    text: str
    html: str | None = None


class TemplateError(Exception):
    """A template could not be found, compiled or rendered."""


class SandboxViolation(TemplateError):
    """A template tried to reach outside the sandbox (private attributes, internals)."""


def _field(obj: object, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def customer_locale(customer: object) -> str:
    """The babel locale for a customer's language and country; `en_US` when unknown."""
    language, country = _field(customer, "language"), _field(customer, "country")
    return _locale_for(str(language) if language else "", str(country).upper() if country else "")


@lru_cache(maxsize=1024)
def _locale_for(language: str, country: str) -> str:
    candidates: list[str] = []
    if language:
        lang = str(language).replace("-", "_")
        if country and "_" not in lang:
            candidates.append(f"{lang}_{country}")
        candidates.append(lang)
    elif country:
        candidates += [f"{lg}_{country}" for lg in get_official_languages(country, de_facto=True)]
    for candidate in candidates:
        try:
            return str(Locale.parse(candidate))
        except (ValueError, UnknownLocaleError):
            continue
    return DEFAULT_LOCALE


def money(amount: object, currency: str | None = None, locale: str = DEFAULT_LOCALE) -> str:
    """Format a Decimal (or a {currency: amount} mapping) as money; floats are refused."""
    if isinstance(amount, Mapping):
        return " + ".join(money(value, cur, locale) for cur, value in amount.items())
    if isinstance(amount, float | bool) or not isinstance(amount, Decimal | int | str):
        raise TypeError(f"money needs a Decimal amount, not {type(amount).__name__}")
    if not currency:
        raise ValueError("money needs a currency, e.g. amount | money('EUR')")
    return _money(Decimal(amount), currency, locale)


# A message shows each amount in its text and again in its HTML, and a ledger's amounts
# come back tick after tick.
@lru_cache(maxsize=8192)
def _money(amount: Decimal, currency: str, locale: str) -> str:
    value = amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)
    pattern, symbol = _currency_format(locale, currency)
    plain = _plain_pattern(locale, currency)
    if plain is not None:
        prefixes, suffixes, group, decimal, digits = plain
        sign = int(value.is_signed())
        whole, _, cents = f"{abs(value):,.{digits}f}".partition(".")
        number = whole.replace(",", group) + (decimal + cents if digits else "")
        text = prefixes[sign] + number + suffixes[sign]
    else:
        text = pattern.apply(value, _babel_locale(locale), currency=None, currency_digits=False)
    if "¤¤¤" in text:
        text = text.replace("¤¤¤", get_currency_name(currency, value, locale))
    return text.replace("¤¤", currency.upper()).replace("¤", symbol)


# What babel's format_currency does, with what depends only on the locale and the
# currency looked up once: a tick formats thousands of amounts in a handful of locales,
# and babel parses the locale and looks up the currency's plural name on every call.
# tests/sequences/test_templates.py holds this to format_currency's output.
@lru_cache(maxsize=256)
def _babel_locale(identifier: str) -> Locale:
    return Locale.parse(identifier)


@lru_cache(maxsize=1024)
def _currency_format(identifier: str, currency: str) -> tuple[NumberPattern, str]:
    """The locale's currency pattern with the currency's decimals, and its symbol."""
    pattern = copy.copy(_babel_locale(identifier).currency_formats["standard"])
    digits = get_currency_precision(currency)
    pattern.frac_prec = (digits, digits)
    return pattern, get_currency_symbol(currency, identifier)


@lru_cache(maxsize=1024)
def _plain_pattern(
    identifier: str, currency: str
) -> tuple[tuple[str, str], tuple[str, str], str, str, int] | None:
    """For the common pattern (groups of three, no quoted text, no significant digits or
    exponent): its prefixes, suffixes, group and decimal symbols and decimals, so `money`
    can format with Python's own grouping at a tenth of `NumberPattern.apply`'s cost."""
    pattern, _ = _currency_format(identifier, currency)
    locale = _babel_locale(identifier)
    group, decimal = get_group_symbol(locale), get_decimal_symbol(locale)
    texts = (*pattern.prefix, *pattern.suffix, group, decimal)
    plain = (
        pattern.grouping == (3, 3) and not pattern.exp_prec and pattern.scale == 0
        and "@" not in pattern.pattern and pattern.number_pattern != ""
        and pattern.int_prec[0] <= 1 and not any("'" in t for t in texts)
    )  # fmt: skip
    if not plain:
        return None
    return pattern.prefix, pattern.suffix, group, decimal, pattern.frac_prec[1]


@lru_cache(maxsize=256)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-get_currency_precision(currency))


@pass_context
def _money_filter(
    ctx: Context, amount: object, currency: str | None = None, locale: str | None = None
) -> str:
    return money(amount, currency, locale or ctx.get("locale") or DEFAULT_LOCALE)


@pass_context
def _date_filter(
    ctx: Context, value: date, style: str = "medium", locale: str | None = None
) -> str:
    return _format_date(value, style, locale or ctx.get("locale") or DEFAULT_LOCALE)


# A tick shows the same few due dates in the same few locales thousands of times.
@lru_cache(maxsize=4096)
def _format_date(value: date, style: str, locale: str) -> str:
    return format_date(value, format=style, locale=_babel_locale(locale))


def _numbers_filter(invoices: Iterable[object]) -> str:
    return ", ".join(str(_field(invoice, "number")) for invoice in invoices)


def locate(name: str, dirs: Iterable[Path]) -> Path | None:
    """The first directory holding template `name` (its `NAME.body.txt`), if any."""
    return _located(name, tuple(dirs))[0]


# Where each template lives and which optional parts it has (HTML, Telegram), looked up
# once until `refresh`: a tick renders thousands of messages from a handful of
# templates, and a stat per part per message was a tenth of its rendering.
@lru_cache(maxsize=1024)
def _located(name: str, dirs: tuple[Path, ...]) -> tuple[Path | None, bool, bool]:
    owner = next((d for d in dirs if (d / f"{name}.body.txt").is_file()), None)
    if owner is None:
        return None, False, False
    has = [(owner / f"{name}.{part}").is_file() for part in ("body.html", "telegram.txt")]
    return owner, has[0], has[1]


def refresh() -> None:
    """Pick up template files added, removed or edited since they were last read.

    Templates are read once and kept (no stat per message); a tick calls this once, so
    an edit made while `arseq run` runs is used from its next pass on. Templates hold
    the partials they include, so one changed file drops every compiled template.
    """
    _located.cache_clear()
    _parts.cache_clear()
    if any(env.is_stale() for env in _ENVIRONMENTS.values()):
        for env in _ENVIRONMENTS.values():
            env.forget()
        _compiled.cache_clear()


def available(dirs: Iterable[Path]) -> list[str]:
    """Names of the message templates found in `dirs`."""
    found = {p.name.removesuffix(".body.txt") for d in dirs for p in d.glob("*.body.txt")}
    return sorted(name for name in found if not name.startswith("_"))


def template_dirs_for(definition: Path | None) -> tuple[Path, ...]:
    """The template search path for a definition file: its `templates/`, then the library."""
    dirs = [definition.parent / "templates"] if definition else []
    return tuple(dict.fromkeys(d.resolve() for d in [*dirs, LIBRARY_TEMPLATES]))


class _Loader(FileSystemLoader):
    """FileSystemLoader, except that all parts of a template come from one directory."""

    def get_source(self, environment: Any, template: str) -> Any:
        owner = locate(template.split(".", 1)[0], [Path(p) for p in self.searchpath])
        if owner is not None:
            return FileSystemLoader(owner).get_source(environment, template)
        return super().get_source(environment, template)


_ENVIRONMENTS: dict[tuple[Path, ...], Sandbox] = {}


def _environment(dirs: tuple[Path, ...]) -> Sandbox:
    env = _ENVIRONMENTS.get(dirs)
    if env is None:
        env = Sandbox(
            loader=_Loader(list(dirs)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,  # `refresh` looks for edits once per tick instead
            cache_size=1000,
        )
        env.filters.update(money=_money_filter, date=_date_filter, numbers=_numbers_filter)
        _ENVIRONMENTS[dirs] = env
    return env


def environment(template_dirs: Iterable[Path] | None = None) -> Sandbox:
    """The sandboxed environment over `template_dirs` (default: the built-in library)."""
    return _environment(tuple(template_dirs or (LIBRARY_TEMPLATES,)))


def _close(name: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1)
    return f"did you mean '{match[0]}'?" if match else ""


def compile_check(source: str, *, variables: Iterable[str] | None = VARIABLES) -> Problem | None:
    """The first reason `source` would be refused, at its line: syntax, unknown filter,
    an attribute outside the sandbox, or (unless `variables` is None) an unknown variable."""
    env = environment()
    try:
        env.compile(source)
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        unknown = re.search(r"No (?:filter|test) named '(\w+)'", exc.message or "")
        hint = _close(unknown.group(1), env.filters) if unknown else ""
        return Problem(exc.lineno, exc.message or "syntax error", hint)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and (attr.startswith("_") or attr == "mro"):
            return Problem(node.lineno, f"'{attr}' is not allowed in a template", "sandbox")
    if variables is None:
        return None
    names = list(tree.find_all(nodes.Name))
    known = {*variables, *_IMPLICIT, *env.globals, *(n.name for n in names if n.ctx != "load")}
    for name in names:
        if name.name not in known:
            hint = _close(name.name, variables) or f"known: {', '.join(variables)}"
            return Problem(name.lineno, f"unknown variable '{name.name}'", hint)
    return None


@contextmanager
def _rendering(what: str) -> Iterator[None]:
    try:
        yield
    except SecurityError as exc:
        raise SandboxViolation(f"{what} tried to reach outside the sandbox: {exc}") from exc
    except TemplateNotFound as exc:
        raise TemplateError(f"{what}: template file {exc.name} not found") from exc
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{what}, line {exc.lineno}: {exc.message}") from exc
    except (JinjaError, TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateError(f"{what}: {exc}") from exc


def _context(context: Mapping[str, Any]) -> dict[str, Any]:
    ctx = {**_DEFAULTS, **context}
    if not ctx.get("locale"):
        ctx["locale"] = customer_locale(ctx.get("customer"))
    return ctx


def render(
    template_name: str,
    context: Mapping[str, Any],
    template_dirs: Iterable[Path] | None = None,
    *,
    channel: str = "email",
) -> RenderedMessage:
    """Render template `template_name` with `context` for `channel`: the subject, and for
    email the text and optional HTML, for Telegram its own text if it has one (else the
    email text) and no HTML."""
    dirs = tuple(template_dirs or (LIBRARY_TEMPLATES,))
    ctx = _context(context)
    with _rendering(f"template '{template_name}'"):
        subject, text, html = _parts(template_name, dirs, channel == "telegram")
        rendered = (subject.render(ctx), text.render(ctx), html.render(ctx) if html else None)
    return RenderedMessage(" ".join(rendered[0].split()), rendered[1].strip() + "\n", rendered[2])


# A tick renders thousands of messages from a handful of templates; `refresh` forgets.
@lru_cache(maxsize=1024)
def _parts(name: str, dirs: tuple[Path, ...], telegram: bool) -> tuple[Any, Any, Any]:
    """The compiled subject, text and HTML (None: none, or for Telegram) of a template."""
    owner, has_html, has_telegram = _located(name, dirs)
    if owner is None:
        raise TemplateError(f"template '{name}' not found in {', '.join(map(str, dirs))}")
    env = _environment(dirs)
    body = "telegram.txt" if telegram and has_telegram else "body.txt"
    html = env.get_template(f"{name}.body.html") if has_html and not telegram else None
    return env.get_template(f"{name}.subject.txt"), env.get_template(f"{name}.{body}"), html


def render_text(source: str, context: Mapping[str, Any], what: str = "inline template") -> str:
    """Render a template string (a task, an inline subject or body) as plain text."""
    with _rendering(what):
        return _compiled(source).render(_context(context))


@lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    """A template string compiled once: a step's inline body or task is rendered per target."""
    return environment().from_string(source)


def render_inline(subject: str | None, body: str, context: Mapping[str, Any]) -> RenderedMessage:
    """Render a step's inline `subject:` and `body:` (plain text, no HTML part)."""
    title = render_text(subject or "", context, "inline subject")
    return RenderedMessage(" ".join(title.split()), render_text(body, context).strip() + "\n")
