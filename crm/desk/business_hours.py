"""Business hours: how much of the working week lies between two instants.

Contact-policy targets ("answer corporate accounts within 1 hour") count
only the hours the business is open, in its own time zone, so a message at
Friday 16:50 with a 1-hour target is due Monday 09:50, not Friday 17:50.
Days are walked one by one (a target is hours or days, never years), and
each day's opening and closing times are made in local time and then turned
into UTC, so a daylight-saving change moves them the way a clock on the
wall does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rapport.crm.clock import as_utc
from rapport.crm.errors import InvalidInput

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DAYS_WALKED = 3700
"""About ten years: a bound so a bad target cannot loop for ever."""


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Open from `opens` to `closes` (local time) on `days` (0 = Monday)."""

    days: frozenset[int]
    opens: time
    closes: time
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if not self.days:
            raise InvalidInput("business hours need at least one working day")
        if not self.opens < self.closes:
            raise InvalidInput("business hours must open before they close (same day)")

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.days:
            return None
        start = datetime.combine(day, self.opens, tzinfo=self.zone)
        end = datetime.combine(day, self.closes, tzinfo=self.zone)
        return as_utc(start), as_utc(end)

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        day = as_utc(moment).astimezone(self.zone).date()
        for offset in range(MAX_DAYS_WALKED):
            window = self._window(day + timedelta(days=offset))
            if window is not None:
                yield window

    def is_open(self, moment: datetime) -> bool:
        window = self._window(as_utc(moment).astimezone(self.zone).date())
        return window is not None and window[0] <= as_utc(moment) < window[1]

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` itself when open, else when the business next opens."""
        moment = as_utc(moment)
        for opens, closes in self._windows_from(moment):
            if closes > moment:
                return max(opens, moment)
        raise InvalidInput("no opening time ahead in the business calendar")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero when `end` is not after `start`."""
        start, end = as_utc(start), as_utc(end)
        total = timedelta()
        if end <= start:
            return total
        for opens, closes in self._windows_from(start):
            if opens >= end:
                break
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta():
                total += overlap
        return total

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant `duration` of business time after `start` (a deadline)."""
        if duration < timedelta():
            raise InvalidInput("a business-time duration cannot be negative")
        start = as_utc(start)
        remaining = duration
        for opens, closes in self._windows_from(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        raise InvalidInput("that duration reaches past the business calendar")


def parse_days(names: list[str]) -> frozenset[int]:
    """["mon", "tue", …] (or "mon-fri") as weekday numbers; InvalidInput names a bad one."""
    days: set[int] = set()
    for name in names:
        word = str(name).strip().lower()
        if "-" in word:
            first, _, last = word.partition("-")
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise InvalidInput(f"unknown day range {name!r}; use e.g. mon-fri")
            a, b = DAY_NAMES.index(first), DAY_NAMES.index(last)
            if a > b:
                raise InvalidInput(f"day range {name!r} runs backwards")
            days.update(range(a, b + 1))
        elif word in DAY_NAMES:
            days.add(DAY_NAMES.index(word))
        else:
            raise InvalidInput(f"unknown day {name!r}; use mon, tue, wed, thu, fri, sat, sun")
    return frozenset(days)


def parse_time(value: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise InvalidInput(f"a time of day is HH:MM, got {value!r}") from None
