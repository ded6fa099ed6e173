"""Timing rules: offsets, business days, send windows, DST, caps and catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from sequences.calendar import (
    Offset,
    OffsetError,
    add_business_days,
    apply_offset,
    is_business_day,
    next_business_day,
    parse_offset,
)
from sequences.send_windows import DEFAULT_WINDOW, SendWindow, WindowError, parse_window
from sequences.timing import cap_allows, earliest_after_cap, latest_due, next_send_time

OFFSET_HINT = "; expected ANCHOR[+|-]N(d|bd), like due+7d"
WINDOW_HINT = (
    "; expected days like mon-fri or mon,wed,fri and times HH:MM, "
    "like {'days': 'mon-fri', 'from': '09:00', 'to': '17:00'}"
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def window(days: str, start: str, end: str) -> SendWindow:
    return parse_window({"days": days, "from": start, "to": end})


# --- offsets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("due+1d", Offset("due", 1, "d")),
        ("due-3d", Offset("due", -3, "d")),
        ("issued+0d", Offset("issued", 0, "d")),
        ("start+2bd", Offset("start", 2, "bd")),
        ("opened+1d", Offset("opened", 1, "d")),
        ("due", Offset("due", 0, "d")),
        ("due-0d", Offset("due", 0, "d")),
        ("due-10bd", Offset("due", -10, "bd")),
        (" Due + 7D ", Offset("due", 7, "d")),
        ("due+3650d", Offset("due", 3650, "d")),
        ("due-3650bd", Offset("due", -3650, "bd")),
    ],
)
def test_parse_offset(text: str, expected: Offset) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("due+1d", "due+1d"),
        ("due-3d", "due-3d"),
        ("due", "due"),
        ("due+0d", "due"),
        ("start+0bd", "start+0bd"),
    ],
)
def test_offset_prints_canonically(text: str, canonical: str) -> None:
    assert str(parse_offset(text)) == canonical


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty offset"),
        ("   ", "empty offset"),
        ("paid+1d", "unknown anchor 'paid' in 'paid+1d' (anchors: due, issued, start, opened)"),
        ("+7d", "missing anchor in '+7d'"),
        ("due+7", "missing unit after '7' in 'due+7' (units: d, bd)"),
        ("due+7w", "unknown unit 'w' in 'due+7w' (units: d, bd)"),
        ("due7d", "missing + or - after 'due' in 'due7d'"),
        ("due+d", "missing number after '+' in 'due+d'"),
        ("due+1.5d", "unexpected '.5d' in 'due+1.5d'"),
        ("due+7d please", "unexpected 'please' in 'due+7d please'"),
        ("due+3651d", "offset 3651 in 'due+3651d' is too large (at most 3650)"),
        (
            "due-99999999999999999999bd",
            "offset 99999999999999999999 in "
            "'due-99999999999999999999bd' is too large (at most 3650)",
        ),
        ("12/03/2026", "missing anchor in '12/03/2026'"),
    ],
)
def test_parse_offset_errors_explain_and_hint(text: str, problem: str) -> None:
    with pytest.raises(OffsetError) as caught:
        parse_offset(text)
    assert str(caught.value) == problem + OFFSET_HINT


def test_parse_offset_refuses_non_text() -> None:
    with pytest.raises(OffsetError, match=r"^an offset must be text, not int; expected"):
        parse_offset(7)  # type: ignore[arg-type]


def test_offset_built_in_code_is_checked_too() -> None:
    with pytest.raises(OffsetError, match=r"^unknown anchor 'paid' \(anchors: due"):
        Offset("paid", 1, "d")  # type: ignore[arg-type]
    with pytest.raises(OffsetError, match=r"^unknown unit 'w' \(units: d, bd\)"):
        Offset("due", 1, "w")  # type: ignore[arg-type]
    with pytest.raises(OffsetError, match=r"^offset -4000 is too large \(at most 3650\)"):
        Offset("due", -4000, "d")


def test_calendar_day_offsets() -> None:
    assert apply_offset(parse_offset("due+1d"), date(2026, 1, 31), "DE") == date(2026, 2, 1)
    assert apply_offset(parse_offset("due-3d"), date(2026, 3, 2), "DE") == date(2026, 2, 27)
    # Calendar days ignore weekends and holidays: the send window deals with those.
    assert apply_offset(parse_offset("due+1d"), date(2026, 12, 24), "DE") == date(2026, 12, 25)
    assert apply_offset(parse_offset("due"), date(2026, 5, 5), None) == date(2026, 5, 5)


def test_business_day_offset_skips_weekend_and_easter() -> None:
    # Thu 2 Apr 2026; Good Friday, the weekend and Easter Monday are not business days in DE.
    assert apply_offset(parse_offset("start+1bd"), date(2026, 4, 2), "DE") == date(2026, 4, 7)
    assert apply_offset(parse_offset("start+2bd"), date(2026, 4, 2), "DE") == date(2026, 4, 8)
    # Without a country only the weekend is skipped.
    assert apply_offset(parse_offset("start+1bd"), date(2026, 4, 2), None) == date(2026, 4, 3)


def test_business_day_offset_skips_thanksgiving() -> None:
    assert apply_offset(parse_offset("due+1bd"), date(2026, 11, 25), "US") == date(2026, 11, 27)


def test_negative_business_day_offset_counts_backwards() -> None:
    # Tue 7 Apr 2026 in DE: back over Easter Monday, the weekend and Good Friday.
    assert apply_offset(parse_offset("due-1bd"), date(2026, 4, 7), "DE") == date(2026, 4, 2)
    assert apply_offset(parse_offset("due-2bd"), date(2026, 3, 9), None) == date(2026, 3, 5)


def test_business_day_offset_from_a_weekend_anchor() -> None:
    saturday = date(2026, 3, 7)
    assert apply_offset(parse_offset("start+1bd"), saturday, None) == date(2026, 3, 9)
    assert apply_offset(parse_offset("start-1bd"), saturday, None) == date(2026, 3, 6)
    # +0bd rolls forward to the next business day, and keeps a business day as it is.
    assert apply_offset(parse_offset("start+0bd"), saturday, None) == date(2026, 3, 9)
    assert apply_offset(parse_offset("start+0bd"), date(2026, 3, 10), None) == date(2026, 3, 10)


def test_offset_beyond_the_calendar_is_an_offset_error() -> None:
    with pytest.raises(OffsetError, match=r"^due\+10d from 9999-12-30 falls outside the calendar$"):
        apply_offset(parse_offset("due+10d"), date(9999, 12, 30), None)
    with pytest.raises(OffsetError, match="falls outside the calendar"):
        apply_offset(parse_offset("due-2bd"), date(1, 1, 2), None)


def test_add_business_days_matches_apply_offset() -> None:
    assert add_business_days(date(2026, 4, 2), 2, "DE") == date(2026, 4, 8)
    assert add_business_days(date(2026, 4, 8), -2, "DE") == date(2026, 4, 2)


# --- business days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "day"),
    [
        ("DE", date(2025, 4, 18)),  # Good Friday
        ("DE", date(2025, 4, 21)),  # Easter Monday
        ("DE", date(2025, 12, 25)),  # Christmas Day
        ("DE", date(2025, 12, 26)),  # Second Day of Christmas
        ("GB", date(2025, 4, 18)),  # Good Friday
        ("GB", date(2025, 12, 25)),  # Christmas Day
        ("GB", date(2025, 12, 26)),  # Boxing Day
        ("GB", date(2026, 12, 28)),  # Boxing Day (observed, the 26th is a Saturday)
        ("US", date(2026, 11, 26)),  # Thanksgiving
        ("US", date(2021, 12, 31)),  # New Year's Day 2022, observed the year before
        ("JP", date(2026, 4, 29)),  # Showa Day, Golden Week
        ("JP", date(2026, 5, 4)),  # Greenery Day
        ("JP", date(2026, 5, 5)),  # Children's Day
        ("JP", date(2026, 5, 6)),  # substitute for Constitution Day on a Sunday
    ],
)
def test_public_holidays_are_not_business_days(country: str, day: date) -> None:
    assert day.weekday() < 5
    assert not is_business_day(day, country)
    assert is_business_day(day, None)  # only the weekend counts without a country


@pytest.mark.parametrize(
    ("country", "day"),
    [
        ("DE", date(2025, 4, 17)),  # Maundy Thursday
        ("US", date(2026, 11, 27)),  # the day after Thanksgiving
        ("JP", date(2026, 5, 1)),  # a Golden Week working day
        ("JP", date(2026, 5, 7)),
        # England's Easter Monday is not a UK-wide bank holiday (Scotland works), and a
        # customer carries a country, not a region.
        ("GB", date(2026, 4, 6)),
    ],
)
def test_ordinary_weekdays_are_business_days(country: str, day: date) -> None:
    assert is_business_day(day, country)


def test_weekends_are_never_business_days() -> None:
    for country in ("US", "GB", "DE", "JP", None):
        assert not is_business_day(date(2026, 3, 7), country)
        assert not is_business_day(date(2026, 3, 8), country)


def test_the_country_weekend_comes_from_the_holiday_calendar() -> None:
    # Israel rests Friday and Saturday and works on Sunday.
    assert not is_business_day(date(2026, 3, 6), "IL")
    assert not is_business_day(date(2026, 3, 7), "IL")
    assert is_business_day(date(2026, 3, 8), "IL")


def test_unknown_or_lowercase_country() -> None:
    assert is_business_day(date(2025, 12, 25), "ZZ")  # unknown: weekends only
    assert not is_business_day(date(2025, 12, 27), "ZZ")
    assert not is_business_day(date(2025, 12, 25), "de")
    assert is_business_day(date(2025, 12, 25), "")


def test_far_future_years_fall_back_to_weekends() -> None:
    assert is_business_day(date(2300, 12, 25), "DE")  # a Tuesday, past the holiday data
    assert not is_business_day(date(2300, 12, 23), "DE")  # a Sunday
    assert next_business_day(date(9999, 12, 31), "US") == date(9999, 12, 31)  # a Friday
    assert next_business_day(date(2999, 3, 2), "JP") == date(2999, 3, 4)


def test_next_business_day() -> None:
    assert next_business_day(date(2026, 3, 10), "DE") == date(2026, 3, 10)
    assert next_business_day(date(2026, 3, 7), "DE") == date(2026, 3, 9)
    assert next_business_day(date(2026, 4, 3), "DE") == date(2026, 4, 7)
    assert next_business_day(date(2026, 5, 2), "JP") == date(2026, 5, 7)  # Golden Week
    assert next_business_day(date(2026, 11, 26), "US") == date(2026, 11, 27)


def test_business_day_functions_refuse_datetimes() -> None:
    with pytest.raises(TypeError, match="expected a date, got datetime"):
        is_business_day(utc(2026, 3, 9), "DE")


# --- send windows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon,wed,fri", {0, 2, 4}),
        ("sat-sun", {5, 6}),
        ("mon-sun", {0, 1, 2, 3, 4, 5, 6}),
        ("tue-thu,sat", {1, 2, 3, 5}),
        ("fri-mon", {4, 5, 6, 0}),
        ("Monday - Friday", {0, 1, 2, 3, 4}),
        (" wed ", {2}),
        ("tues,thurs", {1, 3}),
    ],
)
def test_parse_window_days(days: str, expected: set[int]) -> None:
    parsed = parse_window({"days": days, "from": "08:30", "to": "18:00"})
    assert parsed == SendWindow(frozenset(expected), time(8, 30), time(18, 0))


def test_default_window() -> None:
    assert window("mon-fri", "09:00", "17:00") == DEFAULT_WINDOW
    assert parse_window({}) == DEFAULT_WINDOW
    assert parse_window({"from": "10:00"}) == SendWindow(frozenset(range(5)), time(10), time(17))
    assert str(DEFAULT_WINDOW) == "mon-fri 09:00-17:00"
    assert str(window("tue-thu,sat", "8:05", "12:00")) == "tue-thu,sat 08:05-12:00"


def test_window_accepts_time_objects() -> None:
    assert parse_window({"from": time(9), "to": time(17)}) == DEFAULT_WINDOW


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            {"days": "mun-fri"},
            "unknown day 'mun' in 'mun-fri' (days: mon, tue, wed, thu, fri, sat, sun)",
        ),
        ({"days": ""}, "'days' is empty"),
        ({"days": "mon-"}, "incomplete day range 'mon-' in 'mon-'"),
        (
            {"days": "mo-fr"},
            "unknown day 'mo' in 'mo-fr' (days: mon, tue, wed, thu, fri, sat, sun)",
        ),
        ({"days": "mon,,fri"}, "a day is missing in 'mon,,fri'"),
        ({"days": 5}, "'days' must be text like 'mon-fri', not int"),
        ({"from": "nine"}, "'from' time 'nine' is not HH:MM"),
        ({"from": "25:00"}, "'from' time '25:00' is out of range (00:00 to 23:59)"),
        ({"to": "24:00"}, "'to' time '24:00' is out of range (00:00 to 23:59)"),
        ({"to": 1020}, "'to' is the number 1020, not a time (quote it in YAML: '17:00')"),
        ({"to": None}, "'to' must be a time like '09:00', not NoneType"),
        (
            {"from": "17:00", "to": "09:00"},
            "the window opens at 17:00 but closes at 09:00: 'from' must be before 'to'",
        ),
        (
            {"from": "09:00", "to": "09:00"},
            "the window opens at 09:00 but closes at 09:00: 'from' must be before 'to'",
        ),
        ({"form": "09:00"}, "unknown key 'form' in send window (keys: days, from, to)"),
        (["mon-fri"], "a send window must be a mapping, not list"),
    ],
)
def test_parse_window_errors_explain_and_hint(spec: object, problem: str) -> None:
    with pytest.raises(WindowError) as caught:
        parse_window(spec)  # type: ignore[arg-type]
    assert str(caught.value) == problem + WINDOW_HINT


def test_window_built_in_code_is_checked_too() -> None:
    with pytest.raises(WindowError, match=r"^a send window needs at least one day;"):
        SendWindow(frozenset(), time(9), time(17))
    with pytest.raises(
        WindowError, match=r"^window days must be 0 \(Mon\) to 6 \(Sun\), got \[7\];"
    ):
        SendWindow(frozenset({7}), time(9), time(17))
    with pytest.raises(WindowError, match="without tzinfo"):
        SendWindow(frozenset({0}), time(9, tzinfo=UTC), time(17))


# --- next_send_time --------------------------------------------------------------------


def test_inside_the_window_sends_at_earliest() -> None:
    earliest = datetime(2026, 3, 10, 11, 17, 5, 123, tzinfo=timezone(timedelta(hours=1)))
    sent = next_send_time(earliest, "Europe/Paris", "FR", DEFAULT_WINDOW)
    assert sent == earliest
    assert sent.tzinfo is UTC


def test_before_the_window_waits_for_it_to_open() -> None:
    # Tue 10 Mar 2026 06:00 in Paris (CET, UTC+1).
    assert next_send_time(utc(2026, 3, 10, 5), "Europe/Paris", "FR", DEFAULT_WINDOW) == utc(
        2026, 3, 10, 8
    )


def test_friday_evening_goes_to_monday_morning() -> None:
    # Fri 6 Mar 2026 18:00 in Paris -> Mon 9 Mar 09:00 CET.
    sent = next_send_time(utc(2026, 3, 6, 17), "Europe/Paris", "FR", DEFAULT_WINDOW)
    assert sent == utc(2026, 3, 9, 8)


def test_friday_evening_before_a_monday_holiday_goes_to_tuesday() -> None:
    # Fri 22 May 2026 18:00 in New York; Monday is Memorial Day -> Tue 09:00 EDT.
    sent = next_send_time(utc(2026, 5, 22, 22), "America/New_York", "US", DEFAULT_WINDOW)
    assert sent == utc(2026, 5, 26, 13)
    # Fri 1 May 2026 18:00 in London; Monday is the Early May bank holiday -> Tue 09:00 BST.
    sent = next_send_time(utc(2026, 5, 1, 17), "Europe/London", "GB", DEFAULT_WINDOW)
    assert sent == utc(2026, 5, 5, 8)


def test_holidays_follow_the_customer_country_not_the_zone() -> None:
    # Christmas 2025 (Thursday) 10:00 in Paris: a French customer waits for Friday 26th,
    # a German one (Second Day of Christmas) for Monday 29th, an unknown country sends now.
    earliest = utc(2025, 12, 25, 9)
    assert next_send_time(earliest, "Europe/Paris", "FR", DEFAULT_WINDOW) == utc(2025, 12, 26, 8)
    assert next_send_time(earliest, "Europe/Paris", "DE", DEFAULT_WINDOW) == utc(2025, 12, 29, 8)
    assert next_send_time(earliest, "Europe/Paris", None, DEFAULT_WINDOW) == earliest


def test_half_hour_zone_kolkata() -> None:
    # Fri 6 Mar 2026 07:30 IST (+05:30) -> 09:00 IST.
    assert next_send_time(utc(2026, 3, 6, 2), "Asia/Kolkata", "IN", DEFAULT_WINDOW) == utc(
        2026, 3, 6, 3, 30
    )
    # Fri 17:30 IST -> Mon 9 Mar 09:00 IST.
    assert next_send_time(utc(2026, 3, 6, 12), "Asia/Kolkata", "IN", DEFAULT_WINDOW) == utc(
        2026, 3, 9, 3, 30
    )


def test_quarter_hour_zone_chatham() -> None:
    # Chatham is UTC+13:45 in March 2026 (daylight time). Fri 13:45 local is inside.
    assert next_send_time(utc(2026, 3, 6, 0), "Pacific/Chatham", "NZ", DEFAULT_WINDOW) == utc(
        2026, 3, 6, 0
    )
    # Fri 17:45 local -> Mon 9 Mar 09:00 local, which is Sunday 19:15 UTC.
    assert next_send_time(utc(2026, 3, 6, 4), "Pacific/Chatham", "NZ", DEFAULT_WINDOW) == utc(
        2026, 3, 8, 19, 15
    )


# DST days are Sundays; Israel (Fri-Sat weekend) makes them business days, so the window
# itself is what meets the gap or the repeated hour.
EVERY_DAY = "mon-sun"


def test_paris_spring_forward_window_start_in_the_gap() -> None:
    # 29 Mar 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 does not exist.
    w = window(EVERY_DAY, "02:30", "05:00")
    assert next_send_time(utc(2026, 3, 28, 22), "Europe/Paris", "IL", w) == utc(2026, 3, 29, 1)


def test_paris_spring_forward_window_inside_the_gap_moves_to_the_next_day() -> None:
    w = window(EVERY_DAY, "02:00", "02:59")
    # Nothing of 02:00-02:59 exists on the 29th: Monday 02:00 CEST is the first send.
    assert next_send_time(utc(2026, 3, 28, 22), "Europe/Paris", "IL", w) == utc(2026, 3, 30, 0)


def test_paris_spring_forward_window_closing_in_the_gap() -> None:
    w = window(EVERY_DAY, "01:00", "02:30")
    # 01:30 CET exists and is inside.
    assert next_send_time(utc(2026, 3, 29, 0, 30), "Europe/Paris", "IL", w) == utc(
        2026, 3, 29, 0, 30
    )
    # 03:00 CEST is past the (shortened) window: next day 01:00 CEST.
    assert next_send_time(utc(2026, 3, 29, 1), "Europe/Paris", "IL", w) == utc(2026, 3, 29, 23)


def test_paris_spring_forward_preferred_hour_in_the_gap() -> None:
    w = window(EVERY_DAY, "01:00", "05:00")
    sent = next_send_time(utc(2026, 3, 28, 22), "Europe/Paris", "IL", w, preferred_hour=2)
    assert sent == utc(2026, 3, 29, 1)  # 02:00 is skipped: 03:00 CEST


def test_paris_fall_back_takes_the_first_occurrence() -> None:
    # 25 Oct 2026: 03:00 CEST falls back to 02:00 CET (01:00 UTC); 02:00-02:59 happen twice.
    w = window(EVERY_DAY, "02:30", "05:00")
    assert next_send_time(utc(2026, 10, 24, 22), "Europe/Paris", "IL", w) == utc(
        2026, 10, 25, 0, 30
    )
    w = window(EVERY_DAY, "02:00", "05:00")
    assert next_send_time(utc(2026, 10, 24, 22), "Europe/Paris", "IL", w) == utc(2026, 10, 25, 0)


def test_paris_fall_back_second_pass_of_the_repeated_hour_is_not_used() -> None:
    w = window(EVERY_DAY, "02:30", "05:00")
    # 02:10 CET (second pass): 02:30 was already had once, so the next send is 03:00 CET.
    assert next_send_time(utc(2026, 10, 25, 1, 10), "Europe/Paris", "IL", w) == utc(2026, 10, 25, 2)
    # 02:40 CET is inside by the wall clock but repeated: also 03:00 CET.
    assert next_send_time(utc(2026, 10, 25, 1, 40), "Europe/Paris", "IL", w) == utc(2026, 10, 25, 2)
    # A window that ends inside the repeated hour does not open a second time: the next
    # send is Monday 01:00 CET.
    w = window(EVERY_DAY, "01:00", "02:30")
    assert next_send_time(utc(2026, 10, 25, 1, 5), "Europe/Paris", "IL", w) == utc(2026, 10, 26, 0)


def test_paris_fall_back_preferred_hour_is_the_first_occurrence() -> None:
    w = window(EVERY_DAY, "01:00", "05:00")
    sent = next_send_time(utc(2026, 10, 24, 22, 30), "Europe/Paris", "IL", w, preferred_hour=2)
    assert sent == utc(2026, 10, 25, 0)  # 02:00 CEST


def test_new_york_spring_forward() -> None:
    # 8 Mar 2026: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    w = window(EVERY_DAY, "02:00", "06:00")
    assert next_send_time(utc(2026, 3, 8, 5), "America/New_York", "IL", w) == utc(2026, 3, 8, 7)
    w = window(EVERY_DAY, "02:30", "02:45")
    # Wholly inside the gap: Monday 02:30 EDT.
    assert next_send_time(utc(2026, 3, 8, 5), "America/New_York", "IL", w) == utc(2026, 3, 9, 6, 30)


def test_new_york_fall_back() -> None:
    # 1 Nov 2026: 02:00 EDT falls back to 01:00 EST (06:00 UTC); 01:00-01:59 happen twice.
    w = window(EVERY_DAY, "01:30", "03:00")
    assert next_send_time(utc(2026, 11, 1, 4), "America/New_York", "IL", w) == utc(
        2026, 11, 1, 5, 30
    )
    # 01:10 EST, second pass: 01:30 EST is a repeat, so 02:00 EST is next.
    assert next_send_time(utc(2026, 11, 1, 6, 10), "America/New_York", "IL", w) == utc(
        2026, 11, 1, 7
    )
    w = window(EVERY_DAY, "02:00", "04:00")
    assert next_send_time(utc(2026, 11, 1, 4), "America/New_York", "IL", w) == utc(2026, 11, 1, 7)
    w = window(EVERY_DAY, "02:30", "04:00")
    assert next_send_time(utc(2026, 11, 1, 4), "America/New_York", "IL", w) == utc(
        2026, 11, 1, 7, 30
    )


def test_preferred_hour_inside_the_window() -> None:
    # Tue 10 Mar 2026 06:00 in Paris, prefers 14:00 -> 14:00 CET.
    sent = next_send_time(utc(2026, 3, 10, 5), "Europe/Paris", "FR", DEFAULT_WINDOW, 14)
    assert sent == utc(2026, 3, 10, 13)


def test_preferred_hour_never_before_earliest() -> None:
    # 15:20 local, prefers 14:00: the window is still open, so now.
    sent = next_send_time(utc(2026, 3, 10, 14, 20), "Europe/Paris", "FR", DEFAULT_WINDOW, 14)
    assert sent == utc(2026, 3, 10, 14, 20)
    # 18:00 local: the next day, at the preferred hour.
    sent = next_send_time(utc(2026, 3, 10, 17), "Europe/Paris", "FR", DEFAULT_WINDOW, 14)
    assert sent == utc(2026, 3, 11, 13)


def test_preferred_hour_outside_the_window_is_ignored() -> None:
    sent = next_send_time(utc(2026, 3, 10, 5), "Europe/Paris", "FR", DEFAULT_WINDOW, 20)
    assert sent == utc(2026, 3, 10, 8)
    sent = next_send_time(utc(2026, 3, 10, 5), "Europe/Paris", "FR", DEFAULT_WINDOW, 17)
    assert sent == utc(2026, 3, 10, 8)


def test_preferred_hour_partly_inside_the_window_starts_at_the_opening() -> None:
    w = window("mon-fri", "09:30", "17:00")
    sent = next_send_time(utc(2026, 3, 10, 5), "Europe/Paris", "FR", w, preferred_hour=9)
    assert sent == utc(2026, 3, 10, 8, 30)


def test_preferred_hour_must_be_an_hour() -> None:
    with pytest.raises(ValueError, match="preferred_hour must be 0 to 23, got 24"):
        next_send_time(utc(2026, 3, 10, 5), "Europe/Paris", "FR", DEFAULT_WINDOW, 24)


def test_naive_earliest_is_refused() -> None:
    with pytest.raises(
        ValueError, match="earliest must be timezone-aware, got naive 2026-03-10T05:00:00"
    ):
        next_send_time(datetime(2026, 3, 10, 5), "Europe/Paris", "FR", DEFAULT_WINDOW)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "America"])
def test_unknown_zone_is_refused(zone: str) -> None:
    with pytest.raises(
        ValueError, match=r"unknown time zone .*; expected an IANA name like Europe/Paris"
    ):
        next_send_time(utc(2026, 3, 10, 5), zone, "FR", DEFAULT_WINDOW)


def test_window_that_never_meets_a_business_day() -> None:
    with pytest.raises(WindowError) as caught:
        next_send_time(utc(2026, 1, 1), "UTC", "US", window("sat-sun", "09:00", "17:00"))
    assert str(caught.value) == (
        "no send time within 400 days after 2026-01-01T00:00:00+00:00: "
        "the window sat-sun 09:00-17:00 never falls on a business day in US"
    )


def test_far_future_send_time() -> None:
    # Sat 22 Dec 2300 in Berlin -> Mon 24th 09:00 CET; Christmas (Tuesday) is past the
    # holiday data, so only the weekend is skipped.
    sent = next_send_time(utc(2300, 12, 22, 12), "Europe/Berlin", "DE", DEFAULT_WINDOW)
    assert sent == utc(2300, 12, 24, 8)
    assert next_send_time(utc(2300, 12, 25, 12), "Europe/Berlin", "DE", DEFAULT_WINDOW) == utc(
        2300, 12, 25, 12
    )


def test_send_time_is_idempotent_on_examples() -> None:
    for earliest in (utc(2026, 3, 6, 17), utc(2026, 10, 25, 1, 10), utc(2026, 3, 29, 0, 59)):
        for zone in ("Europe/Paris", "America/New_York", "Pacific/Chatham", "Asia/Kolkata"):
            sent = next_send_time(earliest, zone, "IL", window(EVERY_DAY, "02:30", "05:00"), 3)
            assert next_send_time(sent, zone, "IL", window(EVERY_DAY, "02:30", "05:00"), 3) == sent


# --- frequency cap ---------------------------------------------------------------------


def test_cap_allows() -> None:
    two_days = timedelta(days=2)
    last = utc(2026, 3, 9, 9)
    assert cap_allows(None, utc(2026, 3, 9, 10), two_days)
    assert cap_allows(last, last + two_days, two_days)
    assert not cap_allows(last, last + two_days - timedelta(seconds=1), two_days)
    assert not cap_allows(last, last - timedelta(hours=1), two_days)
    assert cap_allows(last, last, timedelta(0))


def test_cap_refuses_naive_and_negative() -> None:
    with pytest.raises(ValueError, match="last_sent must be timezone-aware"):
        cap_allows(datetime(2026, 3, 9), utc(2026, 3, 12), timedelta(days=2))
    with pytest.raises(ValueError, match="candidate must be timezone-aware"):
        cap_allows(None, datetime(2026, 3, 12), timedelta(days=2))
    with pytest.raises(ValueError, match="the frequency cap must not be negative, got -1 day"):
        cap_allows(None, utc(2026, 3, 12), timedelta(days=-1))
    with pytest.raises(ValueError, match="the frequency cap must not be negative"):
        earliest_after_cap(utc(2026, 3, 12), timedelta(days=-1))


def test_earliest_after_cap() -> None:
    assert earliest_after_cap(None, timedelta(days=2)) is None
    last = datetime(2026, 3, 9, 10, tzinfo=timezone(timedelta(hours=1)))
    after = earliest_after_cap(last, timedelta(days=2))
    assert after == utc(2026, 3, 11, 9)
    assert after is not None and after.tzinfo is UTC
    assert cap_allows(last, after, timedelta(days=2))


# --- catch-up --------------------------------------------------------------------------


def test_latest_due_picks_only_the_latest_missed_step() -> None:
    steps = [utc(2026, 3, 1), utc(2026, 3, 8), utc(2026, 3, 15), utc(2026, 3, 22)]
    assert latest_due(steps, utc(2026, 2, 28)) is None
    assert latest_due(steps, utc(2026, 3, 1)) == 0  # due exactly now counts
    assert latest_due(steps, utc(2026, 3, 16)) == 2  # down for two weeks: step 2, not 0-2
    assert latest_due(steps, utc(2026, 4, 1)) == 3
    assert latest_due([], utc(2026, 4, 1)) is None


def test_latest_due_compares_instants_across_offsets() -> None:
    plus_two = timezone(timedelta(hours=2))
    steps = [datetime(2026, 3, 1, 11, tzinfo=plus_two), datetime(2026, 3, 1, 12, tzinfo=plus_two)]
    assert latest_due(steps, utc(2026, 3, 1, 9, 30)) == 0


def test_latest_due_refuses_naive() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        latest_due([utc(2026, 3, 1)], datetime(2026, 3, 2))
    with pytest.raises(ValueError, match=r"instants\[0\] must be timezone-aware"):
        latest_due([datetime(2026, 3, 1), utc(2026, 3, 2)], utc(2026, 3, 3))
