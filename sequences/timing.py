"""Timing rules of a sequence step: offsets, business days, send windows, caps, catch-up.

Everything here is pure: no I/O, no database, no clock reads. `now` and dates are
parameters, instants are aware datetimes (UTC inside), and the customer's time zone is
used only to decide windows and business days.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "ANCHORS",
    "DEFAULT_WINDOW",
    "MAX_OFFSET_DAYS",
    "UNITS",
    "Anchor",
    "Offset",
    "OffsetError",
    "SendWindow",
    "Unit",
    "WindowError",
    "add_business_days",
    "apply_offset",
    "cap_allows",
    "earliest_after_cap",
    "is_business_day",
    "latest_due",
    "next_business_day",
    "next_send_time",
    "parse_offset",
    "parse_window",
]

Anchor = Literal["due", "issued", "start", "opened"]
Unit = Literal["d", "bd"]
ANCHORS: Final[tuple[str, ...]] = get_args(Anchor)
UNITS: Final[tuple[str, ...]] = get_args(Unit)
MAX_OFFSET_DAYS: Final = 3650
OFFSET_HINT: Final = "expected ANCHOR[+|-]N(d|bd), like due+7d"

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WINDOW_HINT: Final = (
    "expected days like mon-fri or mon,wed,fri and times HH:MM, "
    "like {'days': 'mon-fri', 'from': '09:00', 'to': '17:00'}"
)

# The weekend when the country is unknown or not given.
_WEEKEND: Final = frozenset({5, 6})
# How far ahead a search for a business day or a send time may look. A real calendar
# never needs more than a few weeks; the bound turns an impossible window (say sat-sun
# where weekends are skipped) into an error instead of an endless loop.
_MAX_SEARCH_DAYS: Final = 400
_ONE_DAY: Final = timedelta(days=1)
_SECOND: Final = timedelta(seconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


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


def _country_code(country: str | None) -> str | None:
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
    code = _country_code(country)
    days_off = _days_off(code, day.year) if code else None
    if days_off is None:
        return day.weekday() not in _WEEKEND
    return day not in days_off


def next_business_day(day: date, country: str | None) -> date:
    """`day` itself if it is a business day of `country`, else the first one after it."""
    start = day = _as_date(day)
    for _ in range(_MAX_SEARCH_DAYS):
        if is_business_day(day, country):
            return day
        day += _ONE_DAY
    raise ValueError(f"no business day in {country} within {_MAX_SEARCH_DAYS} days of {start}")


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


# --- send windows ----------------------------------------------------------------------


class WindowError(ValueError):
    """A send window that cannot be read, or that never opens."""


def _window_error(problem: str) -> WindowError:
    return WindowError(f"{problem}; {WINDOW_HINT}")


def _format_time(at: time) -> str:
    return at.isoformat("minutes" if not (at.second or at.microsecond) else "auto")


def _format_days(days: frozenset[int]) -> str:
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        DAY_NAMES[run[0]] if len(run) == 1 else f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}"
        for run in runs
    )


@dataclass(frozen=True, slots=True)
class SendWindow:
    """When customer messages may go out: these weekdays (0=Mon..6=Sun), local [start, end)."""

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        # Accept any iterable of ints, but keep the field hashable and immutable.
        object.__setattr__(self, "days", frozenset(self.days))
        if not self.days:
            raise _window_error("a send window needs at least one day")
        if not self.days <= frozenset(range(7)):
            raise _window_error(f"window days must be 0 (Mon) to 6 (Sun), got {sorted(self.days)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise _window_error("window times are the customer's wall-clock times, without tzinfo")
        if self.start >= self.end:
            raise _window_error(
                f"the window opens at {_format_time(self.start)} but closes at "
                f"{_format_time(self.end)}: 'from' must be before 'to'"
            )

    def __str__(self) -> str:
        return f"{_format_days(self.days)} {_format_time(self.start)}-{_format_time(self.end)}"


DEFAULT_WINDOW: Final = SendWindow(frozenset(range(5)), time(9, 0), time(17, 0))
_WINDOW_KEYS: Final = ("days", "from", "to")
_TIME_RE: Final = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def _day_number(name: str, spec: str) -> int:
    key = name.strip().lower()
    if not key:
        raise _window_error(f"a day is missing in {spec!r}")
    # Three letters or more of the English name: mon, tues, thurs, friday.
    for number, full in enumerate(_FULL_DAY_NAMES):
        if len(key) >= 3 and full.startswith(key):
            return number
    raise _window_error(f"unknown day {key!r} in {spec!r} (days: {', '.join(DAY_NAMES)})")


def _parse_days(spec: object) -> frozenset[int]:
    if not isinstance(spec, str):
        raise _window_error(f"'days' must be text like 'mon-fri', not {type(spec).__name__}")
    if not spec.strip():
        raise _window_error("'days' is empty")
    days: set[int] = set()
    for item in spec.split(","):
        first, dash, last = item.partition("-")
        if not dash:
            days.add(_day_number(first, spec))
            continue
        if not first.strip() or not last.strip():
            raise _window_error(f"incomplete day range {item.strip()!r} in {spec!r}")
        low, high = _day_number(first, spec), _day_number(last, spec)
        # A range may wrap past Sunday: fri-mon is Friday to Monday.
        days.update((low + n) % 7 for n in range((high - low) % 7 + 1))
    return frozenset(days)


def _parse_time(value: object, key: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 17:00 as the sexagesimal number 1020.
        raise _window_error(
            f"{key!r} is the number {value!r}, not a time (quote it in YAML: '17:00')"
        )
    if not isinstance(value, str):
        raise _window_error(f"{key!r} must be a time like '09:00', not {type(value).__name__}")
    match = _TIME_RE.fullmatch(value.strip())
    if match is None:
        raise _window_error(f"{key!r} time {value!r} is not HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise _window_error(f"{key!r} time {value!r} is out of range (00:00 to 23:59)")
    return time(hour, minute)


def parse_window(spec: Mapping[str, object]) -> SendWindow:
    """Read `{"days": "mon-fri", "from": "09:00", "to": "17:00"}`; missing keys take the default."""
    if not isinstance(spec, Mapping):
        raise _window_error(f"a send window must be a mapping, not {type(spec).__name__}")
    unknown = [str(key) for key in spec if key not in _WINDOW_KEYS]
    if unknown:
        raise _window_error(
            f"unknown key {unknown[0]!r} in send window (keys: {', '.join(_WINDOW_KEYS)})"
        )
    days = _parse_days(spec["days"]) if "days" in spec else DEFAULT_WINDOW.days
    start = _parse_time(spec["from"], "from") if "from" in spec else DEFAULT_WINDOW.start
    end = _parse_time(spec["to"], "to") if "to" in spec else DEFAULT_WINDOW.end
    return SendWindow(days, start, end)


# --- send times ------------------------------------------------------------------------


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name like Europe/Paris"
        ) from exc


def _first_second(low: datetime, high: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """The first whole UTC second in (low, high] where `reached` holds.

    `reached` must be false at `low`, true at `high`, and flip once between them. The
    flips searched for are time-zone transitions, which tzdata puts on whole seconds.
    """
    lo = (low - _EPOCH) // _SECOND
    hi = -((_EPOCH - high) // _SECOND)  # ceiling, in integer arithmetic
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if reached(_EPOCH + mid * _SECOND):
            hi = mid
        else:
            lo = mid
    return _EPOCH + hi * _SECOND


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `zone`.

    A repeated wall time (fall-back) is its first occurrence (fold=0); a skipped one
    (spring-forward gap) is the first instant after the gap.
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap, fold=0 reads the wall time with the offset from before the transition and
    # fold=1 with the one after, so the transition lies between the two readings.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    offset_after = first.astimezone(zone).utcoffset()
    return _first_second(before, first, lambda u: u.astimezone(zone).utcoffset() == offset_after)


def _first_open(
    at_least: datetime, opens: datetime, closes: datetime, zone: ZoneInfo
) -> datetime | None:
    """The first instant >= `at_least` in [opens, closes), or None.

    Instants in the second pass of a repeated (fall-back) hour are not in any window:
    a repeated wall time is taken once, at its first occurrence.
    """
    candidate = max(opens, at_least)
    if candidate >= closes:
        return None
    local = candidate.astimezone(zone)
    if local.fold:
        repeat = local.replace(fold=0).utcoffset() - local.utcoffset()  # type: ignore[operator]
        candidate = _first_second(
            candidate, candidate + repeat, lambda u: u.astimezone(zone).fold == 0
        )
        if candidate >= closes:
            return None
    return candidate


def _preferred_time(window: SendWindow, hour: int | None) -> time | None:
    if hour is None:
        return None
    if not 0 <= hour <= 23:
        raise ValueError(f"preferred_hour must be 0 to 23, got {hour}")
    # The hour counts when any part of it is inside the window: 9 in a 09:30-17:00
    # window means 09:30.
    opens_in_time = hour == 23 or time(hour + 1) > window.start
    if time(hour) < window.end and opens_in_time:
        return max(time(hour), window.start)
    return None


def next_send_time(
    earliest: datetime,
    zone: str,
    country: str | None,
    window: SendWindow,
    preferred_hour: int | None = None,
) -> datetime:
    """The first instant >= `earliest` (aware UTC) when a customer message may go out.

    That is: inside `window` in the customer's local time (IANA `zone`), on one of its
    days, on a business day of `country`. With `preferred_hour` overlapping the window,
    the message goes out at that hour of the chosen day, or at `earliest` if later.
    Raises WindowError when the window never meets a business day.
    """
    _require_aware("earliest", earliest)
    tz = _zone(zone)
    target = _preferred_time(window, preferred_hour)
    at_least = earliest.astimezone(UTC)
    day = at_least.astimezone(tz).date()
    try:
        for _ in range(_MAX_SEARCH_DAYS):
            if day.weekday() in window.days and is_business_day(day, country):
                opens = _local_instant(day, window.start, tz)
                closes = _local_instant(day, window.end, tz)
                found = _first_open(at_least, opens, closes, tz)
                if found is not None:
                    if target is not None:
                        # Keep to the preferred hour unless it cannot be had on this day
                        # (a DST gap may swallow it); then the first open instant will do.
                        preferred = _local_instant(day, target, tz)
                        return _first_open(max(at_least, preferred), opens, closes, tz) or found
                    return found
            day += _ONE_DAY
    except OverflowError:
        pass  # ran off the end of the calendar (year 9999): no send time
    where = f" in {_country_code(country)}" if _country_code(country) else ""
    raise WindowError(
        f"no send time within {_MAX_SEARCH_DAYS} days after {earliest.isoformat()}: "
        f"the window {window} never falls on a business day{where}"
    )


# --- frequency cap and catch-up --------------------------------------------------------


def cap_allows(last_sent: datetime | None, candidate: datetime, cap: timedelta) -> bool:
    """Whether a message at `candidate` keeps at least `cap` after the last one (if any)."""
    _require_aware("candidate", candidate)
    if cap < timedelta(0):
        raise ValueError(f"the frequency cap must not be negative, got {cap}")
    if last_sent is None:
        return True
    _require_aware("last_sent", last_sent)
    # A difference never overflows, unlike last_sent + cap near datetime.max.
    return candidate - last_sent >= cap


def earliest_after_cap(last_sent: datetime | None, cap: timedelta) -> datetime | None:
    """The first instant the cap allows another message; None when nothing was sent yet."""
    if cap < timedelta(0):
        raise ValueError(f"the frequency cap must not be negative, got {cap}")
    if last_sent is None:
        return None
    _require_aware("last_sent", last_sent)
    return (last_sent + cap).astimezone(UTC)


def latest_due(instants: Sequence[datetime], now: datetime) -> int | None:
    """Index of the furthest step whose due instant is <= `now`; None if none is due.

    After downtime several steps may be overdue: only this one is sent, not a burst.
    """
    _require_aware("now", now)
    for index, instant in enumerate(instants):
        _require_aware(f"instants[{index}]", instant)
    for index in range(len(instants) - 1, -1, -1):
        if instants[index] <= now:
            return index
    return None
