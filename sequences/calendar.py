"""The calendar of a sequence step: offsets from an anchor date, business days, holidays.

Everything here is pure: no I/O, no database, no clock reads. Dates are parameters; a
customer's country (ISO 3166 alpha-2) decides its weekend and public holidays.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, date, datetime, timedelta
from functools import lru_cache
from typing import Final, Literal, cast, get_args

import holidays

__all__ = [
    "ANCHORS",
    "MAX_OFFSET_DAYS",
    "MAX_SEARCH_DAYS",
    "UNITS",
    "Anchor",
    "Offset",
    "OffsetError",
    "Unit",
    "add_business_days",
    "apply_offset",
    "country_code",
    "is_business_day",
    "next_business_day",
    "parse_offset",
]

Anchor = Literal["due", "issued", "start", "opened"]
Unit = Literal["d", "bd"]
ANCHORS: Final[tuple[str, ...]] = get_args(Anchor)
UNITS: Final[tuple[str, ...]] = get_args(Unit)
MAX_OFFSET_DAYS: Final = 3650
OFFSET_HINT: Final = "expected ANCHOR[+|-]N(d|bd), like due+7d"

# The weekend when the country is unknown or not given.
_WEEKEND: Final = frozenset({5, 6})
# How far ahead a search for a business day or a send time may look. A real calendar
# never needs more than a few weeks; the bound turns an impossible window (say sat-sun
# where weekends are skipped) into an error instead of an endless loop.
MAX_SEARCH_DAYS: Final = 400
_ONE_DAY: Final = timedelta(days=1)


# --- offsets ---------------------------------------------------------------------------


class OffsetError(ValueError):
    """An `at` expression that cannot be read or applied."""


def _offset_error(problem: str) -> OffsetError:
    return OffsetError(f"{problem}; {OFFSET_HINT}")


@dataclass(frozen=True, slots=True)
class Offset:
    """When a step is due: `amount` calendar days (`d`) or business days (`bd`) from `anchor`."""

    anchor: Anchor
    amount: int
    unit: Unit = "d"

    def __post_init__(self) -> None:
        # Offsets built in code get the same checks as parsed ones.
        if self.anchor not in ANCHORS:
            raise _offset_error(f"unknown anchor {self.anchor!r} (anchors: {', '.join(ANCHORS)})")
        if self.unit not in UNITS:
            raise _offset_error(f"unknown unit {self.unit!r} (units: {', '.join(UNITS)})")
        if abs(self.amount) > MAX_OFFSET_DAYS:
            raise _offset_error(f"offset {self.amount} is too large (at most {MAX_OFFSET_DAYS})")

    def __str__(self) -> str:
        if self.amount == 0 and self.unit == "d":
            return self.anchor
        return f"{self.anchor}{self.amount:+d}{self.unit}"


_HEAD_RE: Final = re.compile(r"(?P<anchor>[a-z]*)\s*(?P<rest>.*)", re.DOTALL)
_TAIL_RE: Final = re.compile(
    r"(?P<sign>[+-])\s*(?P<number>[0-9]*)\s*(?P<unit>[a-z]*)(?P<junk>.*)", re.DOTALL
)


def parse_offset(text: str) -> Offset:
    """Read an `at` expression such as `due+7d`, `start+2bd`, `due-3d` or `due`."""
    if not isinstance(text, str):
        raise _offset_error(f"an offset must be text, not {type(text).__name__}")
    return _parse_offset(text)


@lru_cache(maxsize=4096)
def _parse_offset(text: str) -> Offset:
    # Cached: the planner reads every step's offset for every due enrollment, and a
    # ledger has only a handful of distinct offsets (errors are raised, never cached).
    source = text.strip()
    if not source:
        raise _offset_error("empty offset")
    head = _HEAD_RE.fullmatch(source.lower())
    assert head is not None  # the pattern matches any text
    anchor, rest = head["anchor"], head["rest"]
    if not anchor:
        raise _offset_error(f"missing anchor in {source!r}")
    if anchor not in ANCHORS:
        raise _offset_error(
            f"unknown anchor {anchor!r} in {source!r} (anchors: {', '.join(ANCHORS)})"
        )
    if not rest:
        return Offset(cast(Anchor, anchor), 0, "d")
    tail = _TAIL_RE.fullmatch(rest)
    if tail is None:
        raise _offset_error(f"missing + or - after {anchor!r} in {source!r}")
    sign, number, unit, junk = tail["sign"], tail["number"], tail["unit"], tail["junk"]
    if not number:
        raise _offset_error(f"missing number after {sign!r} in {source!r}")
    if junk:
        raise _offset_error(f"unexpected {junk.strip()!r} in {source!r}")
    if not unit:
        raise _offset_error(f"missing unit after {number!r} in {source!r} (units: d, bd)")
    if unit not in UNITS:
        raise _offset_error(f"unknown unit {unit!r} in {source!r} (units: d, bd)")
    # Compare the digits' length first: int() of a very long string is slow or refused.
    if len(number.lstrip("0")) > len(str(MAX_OFFSET_DAYS)) or int(number) > MAX_OFFSET_DAYS:
        raise _offset_error(
            f"offset {number} in {source!r} is too large (at most {MAX_OFFSET_DAYS})"
        )
    amount = int(number) if sign == "+" else -int(number)
    return Offset(cast(Anchor, anchor), amount, cast(Unit, unit))


def apply_offset(offset: Offset, anchor_date: date, country: str | None) -> date:
    """The day a step falls on: `offset` applied to `anchor_date` (business days of `country`)."""
    anchor_date = _as_date(anchor_date)
    try:
        if offset.unit == "d":
            return anchor_date + timedelta(days=offset.amount)
        return add_business_days(anchor_date, offset.amount, country)
    except OverflowError as exc:
        raise OffsetError(f"{offset} from {anchor_date} falls outside the calendar") from exc


# --- business days ---------------------------------------------------------------------


def _as_date(day: date) -> date:
    # A datetime is a date subclass but never equals a date, so holiday lookups would
    # silently miss: refuse it rather than guess which zone its date belongs to.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    return day


def country_code(country: str | None) -> str | None:
    code = (country or "").strip().upper()
    return code or None


@lru_cache(maxsize=2048)
def _days_off(country: str, year: int) -> frozenset[date] | None:
    """Weekend days and public holidays of `country` in `year`; None for an unknown country."""
    # Neighbouring years too: a holiday observed across New Year (the US New Year's Day of
    # 2022 was observed on 2021-12-31) may be filed under either year.
    years = range(max(MINYEAR, year - 1), min(MAXYEAR, year + 1) + 1)
    try:
        with warnings.catch_warnings():
            # The package warns for years outside its data (far future): weekends still
            # apply and an empty holiday list is the best answer there is.
            warnings.simplefilter("ignore")
            calendar = holidays.country_holidays(country, years=years)
    except NotImplementedError:
        return None
    # Prefer the package's own rule: it knows each country's weekend (Fri-Sat in Israel)
    # and weekend days that are worked to bridge a holiday (China, Russia).
    is_working: Callable[[date], bool] = getattr(
        calendar, "is_working_day", lambda d: d not in calendar and d.weekday() not in _WEEKEND
    )
    first = date(year, 1, 1)
    span = (date(year, 12, 31) - first).days + 1
    days = (first + timedelta(days=n) for n in range(span))
    return frozenset(day for day in days if not is_working(day))


def is_business_day(day: date, country: str | None) -> bool:
    """Whether `day` is a working day in `country` (ISO 3166 alpha-2; None: weekends only)."""
    day = _as_date(day)
    code = country_code(country)
    days_off = _days_off(code, day.year) if code else None
    if days_off is None:
        return day.weekday() not in _WEEKEND
    return day not in days_off


def next_business_day(day: date, country: str | None) -> date:
    """`day` itself if it is a business day of `country`, else the first one after it."""
    start = day = _as_date(day)
    for _ in range(MAX_SEARCH_DAYS):
        if is_business_day(day, country):
            return day
        day += _ONE_DAY
    raise ValueError(f"no business day in {country} within {MAX_SEARCH_DAYS} days of {start}")


def add_business_days(day: date, count: int, country: str | None) -> date:
    """The `count`-th business day after `day` (before it when negative).

    With `count` 0 the answer is `next_business_day(day)`: `due+0bd` on a Saturday is
    the Monday after.
    """
    day = _as_date(day)
    if count == 0:
        return next_business_day(day, country)
    step = _ONE_DAY if count > 0 else -_ONE_DAY
    remaining = abs(count)
    while remaining:
        day += step
        if is_business_day(day, country):
            remaining -= 1
    return day
