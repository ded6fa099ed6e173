"""Parsing and checking CSV rows of each import kind (SPEC section 7).

A parser is built once per file from its header, then called with each row's fields
(a list, by position: no dict per row on the hot path of a million-row import). It
returns the row's values in the staging table's column order, already in the form the
database stores (`StorageForm`), or raises `RowError` with the reason for the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import get_territory_currencies, list_currencies

from storage.types import MONEY_SCALE, from_scaled

_EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,}")
_TELEGRAM_USER = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
_LANGUAGE = re.compile(r"[a-z]{2,3}([_-][A-Za-z]{2,4})?")
_COUNTRY = re.compile(r"[A-Z]{2}")
# Only plain ASCII digits with a dot: Decimal() alone would also take 1_000, 1e3,
# NaN and non-ASCII digits; date.fromisoformat also takes 2026-W02-1 and 20260105.
_AMOUNT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCIES = frozenset(list_currencies())
_MAX_SCALED = 10 ** (14 + MONEY_SCALE)

Row = tuple[Any, ...]
RowParser = Callable[[list[str]], Row]


class RowError(ValueError):
    """A row that cannot be imported; the message is the reason shown to the user."""


@dataclass(frozen=True)
class StorageForm:
    """How staged values are bound on one database (see storage.types.Money)."""

    money: Callable[[int], Any]  # from integer ten-thousandths
    day: Callable[[str, date], Any]  # from the validated text and its date


SQLITE_FORM = StorageForm(money=lambda scaled: scaled, day=lambda text, _day: text)
NATIVE_FORM = StorageForm(money=from_scaled, day=lambda _text, day: day)


def storage_form(dialect_name: str) -> StorageForm:
    """The staging form for a dialect: scaled integers and ISO text on SQLite."""
    return SQLITE_FORM if dialect_name == "sqlite" else NATIVE_FORM


@dataclass(frozen=True)
class Columns:
    """The header contract of one import kind."""

    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.required + self.optional


CUSTOMER_COLUMNS = Columns(
    required=("external_id", "name"),
    optional=(
        "email", "timezone", "country", "language", "owner_slack_id", "telegram_username",
        "autopay", "tags",
    ),
)  # fmt: skip
INVOICE_COLUMNS = Columns(
    required=("number", "customer_external_id", "issue_date", "due_date", "amount"),
    optional=("currency", "open_amount"),
)
PAYMENT_COLUMNS = Columns(
    required=("invoice_number", "paid_at", "amount"),
    optional=("reference",),
)

# The staging table's columns after `line`, in the order parsers return them.
CUSTOMER_STAGED = (
    "external_id", "name", "email", "timezone", "country", "language", "currency",
    "owner_slack_id", "telegram_username", "autopay", "tags",
)  # fmt: skip
INVOICE_STAGED = (
    "number", "customer_external_id", "issue_date", "due_date", "amount", "open_amount",
    "currency",
)  # fmt: skip
PAYMENT_STAGED = ("invoice_number", "paid_at", "amount", "reference", "natural_key")


def _getter(header: list[str], name: str) -> Callable[[list[str]], str]:
    """Read one column by position; a column the file lacks reads as blank."""
    if name not in header:
        return lambda _fields: ""
    index = header.index(name)
    return lambda fields: fields[index].strip()


def _required(value: str, name: str) -> str:
    if not value:
        raise RowError(f"missing required value '{name}'")
    return value


def _text(value: str, name: str, limit: int) -> str:
    if len(value) > limit:
        raise RowError(f"{name} is longer than {limit} characters")
    return value


def parse_day(value: str, name: str) -> date:
    """An ISO YYYY-MM-DD date, or a RowError naming the column."""
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(f"bad date in {name}: {value!r} (expected YYYY-MM-DD)") from None


def parse_money(value: str, name: str, *, positive: bool = True) -> int:
    """A dot-decimal amount as integer ten-thousandths, or a RowError naming the column.

    Exact by construction: the digits are shifted as text, never through a float.
    """
    if not _AMOUNT.fullmatch(value):
        raise RowError(
            f"bad amount in {name}: {value!r} (expected digits with a dot, like 1234.50)"
        )
    whole, _, frac = value.partition(".")
    if len(frac) > MONEY_SCALE:
        raise RowError(f"bad amount in {name}: {value!r} has more than {MONEY_SCALE} decimals")
    negative = whole.startswith("-")
    scaled = int((whole.lstrip("-") or "0") + frac.ljust(MONEY_SCALE, "0"))
    if negative and scaled:
        raise RowError(f"bad amount in {name}: {value!r} must not be negative")
    if positive and scaled == 0:
        raise RowError(f"bad amount in {name}: {value!r} must be greater than 0")
    if scaled >= _MAX_SCALED:
        raise RowError(f"bad amount in {name}: {value!r} is too large")
    return scaled


@cache
def _zone_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def currency_of_country(country: str) -> str | None:
    """The currency in use today in an ISO 3166 country, if babel knows one."""
    found = get_territory_currencies(country, date.today())
    return found[0] if found else None


def _currency(value: str) -> str | None:
    if not value:
        return None
    currency = value.upper()
    if currency not in _CURRENCIES:
        raise RowError(f"unknown currency: {value!r} (expected an ISO 4217 code)")
    return currency


_YES = frozenset({"true", "yes", "1"})
_NO = frozenset({"false", "no", "0", ""})
# A tag is matched as a JSON string: no quotes, backslashes or control characters.
_TAG = re.compile(r"[^\"\\\x00-\x1f]{1,64}")


def parse_autopay(value: str) -> bool:
    """true/yes/1 or false/no/0 (any case; blank is no), or a RowError."""
    flag = value.lower()
    if flag in _YES:
        return True
    if flag in _NO:
        return False
    raise RowError(f"bad autopay: {value!r} (expected true/false, yes/no or 1/0)")


def parse_tags(value: str) -> str:
    """`;`-separated tags as the JSON list the ledger stores (blank: no tags), or a RowError."""
    tags: list[str] = []
    for part in value.split(";"):
        tag = part.strip()
        if not tag or tag in tags:
            continue
        if not _TAG.fullmatch(tag):
            raise RowError(f"bad tag: {tag!r} (at most 64 characters, no quotes or backslashes)")
        tags.append(tag)
    # Written as is (no \u escapes), so a non-ASCII exclude tag matches the stored text.
    return "[" + ", ".join(f'"{tag}"' for tag in tags) + "]"


def customer_parser(header: list[str], form: StorageForm) -> RowParser:
    """A parser of customers.csv rows for this header.

    `autopay` and `tags` stage as None when the file lacks the column, so the merge
    keeps what is stored; tags stage as JSON text.
    """
    g = {name: _getter(header, name) for name in CUSTOMER_COLUMNS.all}
    has_autopay, has_tags = "autopay" in header, "tags" in header

    def parse(fields: list[str]) -> Row:
        external_id = _text(_required(g["external_id"](fields), "external_id"), "external_id", 64)
        name = _text(_required(g["name"](fields), "name"), "name", 255)
        email = g["email"](fields) or None
        if email is not None and not _EMAIL.fullmatch(email):
            raise RowError(f"bad email: {email!r}")
        zone = g["timezone"](fields) or None
        if zone is not None and not _zone_ok(zone):
            raise RowError(f"unknown time zone: {zone!r} (use an IANA name like Europe/Paris)")
        country = g["country"](fields).upper() or None
        if country is not None and not _COUNTRY.fullmatch(country):
            raise RowError(f"bad country: {country!r} (expected a two-letter ISO code)")
        language = g["language"](fields) or None
        if language is not None and not _LANGUAGE.fullmatch(language):
            raise RowError(f"bad language: {language!r} (expected a code like en or pt-BR)")
        owner = g["owner_slack_id"](fields) or None
        if owner is not None and not _SLACK_USER.fullmatch(owner):
            raise RowError(
                f"bad owner_slack_id: {owner!r} (expected a Slack user id like U0123ABCD)"
            )
        telegram = g["telegram_username"](fields).removeprefix("@") or None
        if telegram is not None and not _TELEGRAM_USER.fullmatch(telegram):
            raise RowError(f"bad telegram_username: {telegram!r}")
        currency = currency_of_country(country) if country else None
        autopay = parse_autopay(g["autopay"](fields)) if has_autopay else None
        tags = parse_tags(g["tags"](fields)) if has_tags else None
        return (
            external_id, name, email, zone, country, language, currency, owner, telegram,
            autopay, tags,
        )  # fmt: skip

    return parse


# The common shape of a good amount: no sign, at most 14 digits and 4 decimals.
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,14}(\.[0-9]{1,4})?")


def _plain_scaled(text: str) -> int:
    """Ten-thousandths of an amount already matched by _PLAIN_AMOUNT."""
    whole, _, frac = text.partition(".")
    return int(whole + frac.ljust(MONEY_SCALE, "0"))


def _column(header: list[str], name: str) -> int | None:
    return header.index(name) if name in header else None


def invoice_parser(header: list[str], form: StorageForm) -> RowParser:
    """A parser of invoices.csv rows for this header.

    Rows in the common shape take a fast path; anything else goes through the checked
    parser, which accepts the same rows and names the problem in the others (a
    property test holds the two paths to the same answers).
    """
    checked = _checked_invoice_parser(header, form)
    money, day = form.money, form.day
    i_number, i_customer, i_issued, i_due, i_amount = (
        header.index(name) for name in INVOICE_COLUMNS.required
    )
    i_currency, i_open = _column(header, "currency"), _column(header, "open_amount")
    date_shape, plain, iso = _ISO_DATE.fullmatch, _PLAIN_AMOUNT.fullmatch, date.fromisoformat
    currencies = _CURRENCIES

    def parse(fields: list[str]) -> Row:
        number = fields[i_number].strip()
        customer = fields[i_customer].strip()
        issued_text = fields[i_issued].strip()
        due_text = fields[i_due].strip()
        amount_text = fields[i_amount].strip()
        open_text = "" if i_open is None else fields[i_open].strip()
        currency = "" if i_currency is None else fields[i_currency].strip()
        if not (
            number
            and customer
            and len(number) <= 64
            and len(customer) <= 64
            and date_shape(issued_text)
            and date_shape(due_text)
            and issued_text <= due_text
            and plain(amount_text)
            and (not open_text or plain(open_text))
            and (not currency or currency in currencies)
        ):
            return checked(fields)
        try:
            issued, due = iso(issued_text), iso(due_text)
        except ValueError:
            return checked(fields)
        amount = _plain_scaled(amount_text)
        open_amount = _plain_scaled(open_text) if open_text else None
        if amount == 0 or (open_amount is not None and open_amount > amount):
            return checked(fields)
        return (
            number,
            customer,
            day(issued_text, issued),
            day(due_text, due),
            money(amount),
            None if open_amount is None else money(open_amount),
            currency or None,
        )

    return parse


def _checked_invoice_parser(header: list[str], form: StorageForm) -> RowParser:
    g = {name: _getter(header, name) for name in INVOICE_COLUMNS.all}
    money, day = form.money, form.day

    def parse(fields: list[str]) -> Row:
        number = _text(_required(g["number"](fields), "number"), "number", 64)
        customer = _text(
            _required(g["customer_external_id"](fields), "customer_external_id"),
            "customer_external_id",
            64,
        )
        issued_text = _required(g["issue_date"](fields), "issue_date")
        due_text = _required(g["due_date"](fields), "due_date")
        issued = parse_day(issued_text, "issue_date")
        due = parse_day(due_text, "due_date")
        if due < issued:
            raise RowError(f"due_date {due} is before issue_date {issued}")
        amount = parse_money(_required(g["amount"](fields), "amount"), "amount")
        open_text = g["open_amount"](fields)
        open_amount = None
        if open_text:
            open_amount = parse_money(open_text, "open_amount", positive=False)
            if open_amount > amount:
                raise RowError(
                    f"open_amount {from_scaled(open_amount):f} is more than "
                    f"amount {from_scaled(amount):f}"
                )
        currency = _currency(g["currency"](fields))
        return (
            number,
            customer,
            day(issued_text, issued),
            day(due_text, due),
            money(amount),
            None if open_amount is None else money(open_amount),
            currency,
        )

    return parse


def payment_key(reference: str | None, paid_at: str, scaled_amount: int) -> str:
    """How a payment is recognised again: its reference, else its date and amount."""
    if reference:
        return f"ref:{reference}"
    return f"row:{paid_at}:{from_scaled(scaled_amount).normalize():f}"


def payment_parser(header: list[str], form: StorageForm) -> RowParser:
    """A parser of payments.csv rows for this header."""
    g = {name: _getter(header, name) for name in PAYMENT_COLUMNS.all}
    money, day = form.money, form.day

    def parse(fields: list[str]) -> Row:
        number = _required(g["invoice_number"](fields), "invoice_number")
        _text(number, "invoice_number", 64)
        paid_text = _required(g["paid_at"](fields), "paid_at")
        paid_at = parse_day(paid_text, "paid_at")
        amount = parse_money(_required(g["amount"](fields), "amount"), "amount")
        reference = g["reference"](fields) or None
        if reference is not None:
            _text(reference, "reference", 128)
        key = payment_key(reference, paid_text, amount)
        return (number, day(paid_text, paid_at), money(amount), reference, key)

    return parse
