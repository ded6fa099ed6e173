"""Parsing and checking one CSV row of each import kind (SPEC section 7).

Each parser takes the row as a dict of the columns present in the header and
returns the values to stage, or raises `RowError` with a reason for the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import get_territory_currencies, list_currencies

from storage.types import MONEY_SCALE

_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{6,}$")
_TELEGRAM_USER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCIES = frozenset(list_currencies())
_MAX_AMOUNT = Decimal("1e14")


class RowError(ValueError):
    """A row that cannot be imported; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Columns:
    """The header contract of one import kind."""

    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.required + self.optional


def _required(row: dict[str, str], name: str) -> str:
    value = row[name].strip()
    if not value:
        raise RowError(f"missing required value '{name}'")
    return value


def _optional(row: dict[str, str], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _text(value: str, name: str, limit: int) -> str:
    if len(value) > limit:
        raise RowError(f"{name} is longer than {limit} characters")
    return value


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AMOUNT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def parse_date(value: str, name: str) -> date:
    """An ISO YYYY-MM-DD date, or a RowError naming the column."""
    # fromisoformat alone also takes week dates and basic format (2026-W02-1, 20260105).
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(f"bad date in {name}: {value!r} (expected YYYY-MM-DD)") from None


def parse_amount(value: str, name: str, *, positive: bool = True) -> Decimal:
    """A dot-decimal amount with at most four places, or a RowError naming the column."""
    # Decimal() alone also takes 1_000, 1e3, NaN and non-ASCII digits.
    if not _AMOUNT.fullmatch(value):
        raise RowError(
            f"bad amount in {name}: {value!r} (expected digits with a dot, like 1234.50)"
        )
    amount = Decimal(value)
    if amount.as_tuple().exponent < -MONEY_SCALE:  # type: ignore[operator]
        raise RowError(f"bad amount in {name}: {value!r} has more than {MONEY_SCALE} decimals")
    if positive and amount <= 0:
        raise RowError(f"bad amount in {name}: {value!r} must be greater than 0")
    if amount < 0:
        raise RowError(f"bad amount in {name}: {value!r} must not be negative")
    if amount >= _MAX_AMOUNT:
        raise RowError(f"bad amount in {name}: {value!r} is too large")
    return amount


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


CUSTOMER_COLUMNS = Columns(
    required=("external_id", "name"),
    optional=("email", "timezone", "country", "language", "owner_slack_id", "telegram_username"),
)
INVOICE_COLUMNS = Columns(
    required=("number", "customer_external_id", "issue_date", "due_date", "amount"),
    optional=("currency", "open_amount"),
)
PAYMENT_COLUMNS = Columns(
    required=("invoice_number", "paid_at", "amount"),
    optional=("reference",),
)


def parse_customer(row: dict[str, str]) -> dict[str, Any]:
    """A customers.csv row -> staged values."""
    email = _optional(row, "email")
    if email is not None and not _EMAIL.match(email):
        raise RowError(f"bad email: {email!r}")
    zone = _optional(row, "timezone")
    if zone is not None and not _zone_ok(zone):
        raise RowError(f"unknown time zone: {zone!r} (use an IANA name like Europe/Paris)")
    country = _optional(row, "country")
    if country is not None:
        country = country.upper()
        if not _COUNTRY.match(country):
            raise RowError(f"bad country: {country!r} (expected a two-letter ISO code)")
    language = _optional(row, "language")
    if language is not None and not _LANGUAGE.match(language):
        raise RowError(f"bad language: {language!r} (expected a code like en or pt-BR)")
    owner = _optional(row, "owner_slack_id")
    if owner is not None and not _SLACK_USER.match(owner):
        raise RowError(f"bad owner_slack_id: {owner!r} (expected a Slack user id like U0123ABCD)")
    telegram = _optional(row, "telegram_username")
    if telegram is not None:
        telegram = telegram.removeprefix("@")
        if not _TELEGRAM_USER.match(telegram):
            raise RowError(f"bad telegram_username: {telegram!r}")
    return {
        "external_id": _text(_required(row, "external_id"), "external_id", 64),
        "name": _text(_required(row, "name"), "name", 255),
        "email": email,
        "timezone": zone,
        "country": country,
        "language": language,
        "currency": currency_of_country(country) if country else None,
        "owner_slack_id": owner,
        "telegram_username": telegram,
    }


def parse_invoice(row: dict[str, str]) -> dict[str, Any]:
    """An invoices.csv row -> staged values."""
    number = _text(_required(row, "number"), "number", 64)
    customer = _text(_required(row, "customer_external_id"), "customer_external_id", 64)
    issued = parse_date(_required(row, "issue_date"), "issue_date")
    due = parse_date(_required(row, "due_date"), "due_date")
    if due < issued:
        raise RowError(f"due_date {due} is before issue_date {issued}")
    amount = parse_amount(_required(row, "amount"), "amount")
    open_text = _optional(row, "open_amount")
    open_amount = None
    if open_text is not None:
        open_amount = parse_amount(open_text, "open_amount", positive=False)
        if open_amount > amount:
            raise RowError(f"open_amount {open_amount} is more than amount {amount}")
    currency = _optional(row, "currency")
    if currency is not None:
        currency = currency.upper()
        if currency not in _CURRENCIES:
            raise RowError(f"unknown currency: {currency!r} (expected an ISO 4217 code)")
    return {
        "number": number,
        "customer_external_id": customer,
        "issue_date": issued,
        "due_date": due,
        "amount": amount,
        "open_amount": open_amount,
        "currency": currency,
    }


def payment_key(reference: str | None, paid_at: date, amount: Decimal) -> str:
    """How a payment is recognised again: its reference, else its date and amount."""
    if reference:
        return f"ref:{reference}"
    return f"row:{paid_at.isoformat()}:{amount.normalize():f}"


def parse_payment(row: dict[str, str]) -> dict[str, Any]:
    """A payments.csv row -> staged values."""
    number = _text(_required(row, "invoice_number"), "invoice_number", 64)
    paid_at = parse_date(_required(row, "paid_at"), "paid_at")
    amount = parse_amount(_required(row, "amount"), "amount")
    reference = _optional(row, "reference")
    if reference is not None:
        _text(reference, "reference", 128)
    return {
        "invoice_number": number,
        "paid_at": paid_at,
        "amount": amount,
        "reference": reference,
        "natural_key": payment_key(reference, paid_at, amount),
    }


RowParser = Callable[[dict[str, str]], dict[str, Any]]
