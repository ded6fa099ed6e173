"""Send windows: the weekdays and local hours when customer messages may go out.

A window is read from a definition's `send_window` mapping (`parse_window`) and is
checked when it is built, so a window that never opens is refused early. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Final

__all__ = ["DEFAULT_WINDOW", "SendWindow", "WindowError", "parse_window"]

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WINDOW_HINT: Final = (
    "expected days like mon-fri or mon,wed,fri and times HH:MM, "
    "like {'days': 'mon-fri', 'from': '09:00', 'to': '17:00'}"
)


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
