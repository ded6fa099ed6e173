"""Property tests for the timing rules, checked against a brute-force scan of instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from itertools import pairwise
from typing import cast
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sequences.calendar import (
    Offset,
    add_business_days,
    apply_offset,
    is_business_day,
    next_business_day,
    parse_offset,
)
from sequences.send_windows import SendWindow, parse_window
from sequences.timing import next_send_time

PROPERTIES = settings(deadline=None, max_examples=300)
MINUTE = timedelta(minutes=1)

ZONES = (
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/St_Johns",  # -03:30
    "America/Havana",  # DST changes at midnight
    "America/Santiago",  # DST changes at midnight
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Asia/Tehran",  # +03:30, DST until 2022
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Cairo",  # DST changes on Thursday night / Friday
)
# Israel (Fri-Sat weekend) makes the Sunday DST changes of Europe and America business days.
COUNTRIES = ("US", "GB", "DE", "FR", "JP", "IN", "BR", "AU", "IL", None)
WORKING_WEEKDAYS = {"IL": frozenset({6, 0, 1, 2, 3})}
MON_FRI = frozenset(range(5))


@cache
def dst_changes(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The instants (UTC, to the minute) at which the zone's offset changes in `year`."""
    zone = ZoneInfo(zone_name)
    midnights = [datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=n) for n in range(366)]
    changes = []
    for day, following in pairwise(midnights):
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            minutes = (day + n * MINUTE for n in range(1, 1441))
            changes.append(
                next(
                    m
                    for m in minutes
                    if m.astimezone(zone).utcoffset() != day.astimezone(zone).utcoffset()
                )
            )
    return tuple(changes)


@st.composite
def earliest_in(draw: st.DrawFn, zone_name: str) -> datetime:
    """Any aware instant in 2020-2035, often close to a DST change."""
    changes = dst_changes(zone_name, draw(st.integers(2020, 2035)))
    if changes and draw(st.booleans()):
        hours = draw(st.sampled_from([3, 60]))
        seconds = draw(st.integers(-hours * 3600, hours * 3600))
        return draw(st.sampled_from(changes)) + timedelta(seconds=seconds)
    offset = draw(
        st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), ZoneInfo(zone_name)])
    )
    return draw(
        st.datetimes(
            datetime(2020, 1, 1), datetime(2035, 12, 31, 23, 59), timezones=st.just(offset)
        )
    )


@st.composite
def windows(draw: st.DrawFn) -> SendWindow:
    """Windows on whole minutes, often short and starting near the usual DST hours."""
    days = draw(
        st.one_of(st.just(frozenset(range(7))), st.frozensets(st.integers(0, 6), min_size=1))
    )
    start = draw(
        st.one_of(
            st.sampled_from([0, 30, 60, 90, 120, 150, 165, 180, 210, 540]), st.integers(0, 1438)
        )
    )
    length = draw(st.one_of(st.sampled_from([1, 15, 30, 45, 60, 90, 480]), st.integers(1, 1439)))
    end = min(start + length, 1439)
    return SendWindow(days, time(*divmod(start, 60)), time(*divmod(end, 60)))


def valid(instant: datetime, zone: ZoneInfo, country: str | None, window: SendWindow) -> bool:
    """The definition: a first occurrence of a wall time inside the window on a business day."""
    local = instant.astimezone(zone)
    return (
        local.fold == 0
        and local.weekday() in window.days
        and window.start <= local.time() < window.end
        and is_business_day(local.date(), country)
    )


def next_local_midnight(local: datetime, zone: ZoneInfo) -> datetime:
    wall = datetime.combine(local.date() + timedelta(days=1), time(0))
    # The earlier reading of a skipped or repeated midnight, so nothing is jumped over.
    return min(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


def first_valid_by_scan(
    earliest: datetime, limit: datetime, zone: ZoneInfo, country: str | None, window: SendWindow
) -> datetime | None:
    """The first valid instant in [earliest, limit) on a one-minute grid from `earliest`.

    Window edges and DST changes fall on whole UTC minutes, so the grid meets every valid
    stretch. Whole days outside the window are jumped, and so is the time before the window
    opens, less two hours of margin for a DST change on the way.
    """
    instant = earliest.astimezone(UTC)
    while instant < limit:
        if valid(instant, zone, country, window):
            return instant
        local = instant.astimezone(zone)
        open_day = local.weekday() in window.days and is_business_day(local.date(), country)
        if not open_day or local.time() >= window.end:
            instant = max(instant + MINUTE, next_local_midnight(local, zone))
            continue
        to_open = datetime.combine(local.date(), window.start) - local.replace(tzinfo=None)
        instant += max(MINUTE, to_open - timedelta(hours=2))
    return None


Scenario = tuple[datetime, str, str | None, SendWindow]


@st.composite
def any_scenario(draw: st.DrawFn) -> Scenario:
    zone = draw(st.sampled_from(ZONES))
    country = draw(st.sampled_from(COUNTRIES))
    window = draw(windows())
    # A window on no working weekday never opens (that error has its own unit test).
    assume(window.days & WORKING_WEEKDAYS.get(country or "", MON_FRI))
    return draw(earliest_in(zone)), zone, country, window


@st.composite
def dst_scenario(draw: st.DrawFn) -> Scenario:
    """A window around the wall time of a DST change, on a day it is a business day."""
    zone = draw(st.sampled_from([z for z in ZONES if dst_changes(z, 2026) or z == "Asia/Tehran"]))
    changes = dst_changes(zone, draw(st.integers(2020, 2035)))
    assume(changes)
    change = draw(st.sampled_from(changes))
    local = change.astimezone(ZoneInfo(zone))
    # Most changes fall on a Sunday, which is a business day in Israel only.
    country = next((c for c in ("IL", None) if is_business_day(local.date(), c)), "skip")
    assume(country != "skip")
    at = local.hour * 60 + local.minute + draw(st.integers(-120, 90))
    start = min(max(at, 0), 1438)
    end = min(start + draw(st.integers(1, 240)), 1439)
    window = SendWindow(frozenset(range(7)), time(*divmod(start, 60)), time(*divmod(end, 60)))
    earliest = change + timedelta(seconds=draw(st.integers(-3 * 3600, 3 * 3600)))
    return earliest, zone, cast(str | None, country), window


scenarios = st.one_of(any_scenario(), dst_scenario())


@PROPERTIES
@given(scenarios)
def test_next_send_time_is_the_first_valid_instant(
    scenario: Scenario,
) -> None:
    earliest, zone_name, country, window = scenario
    zone = ZoneInfo(zone_name)
    sent = next_send_time(earliest, zone_name, country, window)

    assert sent.tzinfo is UTC
    assert sent >= earliest
    local = sent.astimezone(zone)
    assert window.start <= local.time() < window.end
    assert local.weekday() in window.days
    assert is_business_day(local.date(), country)
    assert local.fold == 0
    # No valid instant before it: not on an earlier day, nor earlier on the same day.
    assert first_valid_by_scan(earliest, sent, zone, country, window) is None
    assert next_send_time(sent, zone_name, country, window) == sent


@PROPERTIES
@given(scenarios, st.integers(0, 23))
def test_next_send_time_with_a_preferred_hour(scenario: Scenario, hour: int) -> None:
    earliest, zone_name, country, window = scenario
    zone = ZoneInfo(zone_name)
    sent = next_send_time(earliest, zone_name, country, window, preferred_hour=hour)

    assert sent >= earliest
    assert valid(sent, zone, country, window)
    assert next_send_time(sent, zone_name, country, window, preferred_hour=hour) == sent
    # Still the first valid day: the preference only moves the time within that day.
    first = first_valid_by_scan(earliest, sent, zone, country, window)
    if first is not None:
        assert first.astimezone(zone).date() == sent.astimezone(zone).date()
        # It waited for the preferred hour (or the opening, when the hour starts before it).
        assert sent.astimezone(zone).time() >= max(time(hour), window.start)


offsets = st.builds(
    Offset,
    st.sampled_from(["due", "issued", "start", "opened"]),
    st.integers(-3650, 3650),
    st.sampled_from(["d", "bd"]),
)


@PROPERTIES
@given(offsets)
def test_offsets_print_and_parse_back(offset: Offset) -> None:
    assert parse_offset(str(offset)) == offset


@PROPERTIES
@given(
    st.dates(date(2020, 1, 1), date(2035, 12, 31)), st.integers(-40, 40), st.sampled_from(COUNTRIES)
)
def test_business_day_offsets_count_business_days(
    anchor: date, count: int, country: str | None
) -> None:
    moved = apply_offset(Offset("due", count, "bd"), anchor, country)
    assert moved == add_business_days(anchor, count, country)
    assert is_business_day(moved, country)
    if count == 0:
        assert moved == next_business_day(anchor, country)
        return
    low, high = (anchor, moved) if count > 0 else (moved, anchor)
    assert low < high
    between = [low + timedelta(days=n) for n in range((high - low).days + 1)]
    # Counted from the day after the anchor forwards, or the day before it backwards.
    counted = between[1:] if count > 0 else between[:-1]
    assert sum(is_business_day(day, country) for day in counted) == abs(count)


@PROPERTIES
@given(st.dates(date(2020, 1, 1), date(2035, 12, 31)), st.sampled_from(COUNTRIES))
def test_next_business_day_is_the_first_one(day: date, country: str | None) -> None:
    found = next_business_day(day, country)
    assert found >= day
    assert is_business_day(found, country)
    assert not any(
        is_business_day(day + timedelta(days=n), country) for n in range((found - day).days)
    )


@PROPERTIES
@given(windows())
def test_windows_print_and_parse_back(window: SendWindow) -> None:
    days, hours = str(window).split(" ")
    start, end = hours.split("-")
    assert parse_window({"days": days, "from": start, "to": end}) == window
