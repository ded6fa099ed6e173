"""Timing rules of a sequence step: send times across DST, the frequency cap, catch-up.

Everything here is pure: no I/O, no database, no clock reads. `now` is a parameter,
instants are aware datetimes (UTC inside), and the customer's time zone is used only
to decide windows; business days come from `sequences.calendar`, windows from
`sequences.send_windows`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sequences.calendar import MAX_SEARCH_DAYS, country_code, is_business_day
from sequences.send_windows import SendWindow, WindowError

__all__ = ["cap_allows", "earliest_after_cap", "latest_due", "next_send_time"]

_ONE_DAY: Final = timedelta(days=1)
_SECOND: Final = timedelta(seconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


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


# Cached: a tick asks with one `earliest` (its `now`) for thousands of customers who
# share a few zones, countries and windows. Errors are raised, never cached.
@lru_cache(maxsize=16_384)
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
        for _ in range(MAX_SEARCH_DAYS):
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
    where = f" in {country_code(country)}" if country_code(country) else ""
    raise WindowError(
        f"no send time within {MAX_SEARCH_DAYS} days after {earliest.isoformat()}: "
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
