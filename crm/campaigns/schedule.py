"""A campaign's cron schedule as data: five crontab fields, checked when saved.

The core decides what a schedule *means* (standard crontab, Sunday = 0 or 7)
and refuses a typo at create time; turning it into fire times is the
scheduler adapter's job (`rapport.bot.scheduler`), so the core imports no
scheduler library.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapport.crm.errors import RapportError

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


class InvalidSchedule(RapportError):
    """A cron expression that is not a standard five-field crontab."""


@dataclass(frozen=True, slots=True)
class Crontab:
    """The five fields, with the day of week spelt as names (`mon,wed`).

    Names remove an ambiguity: APScheduler 3 reads day numbers as
    0 = Monday, crontab as 0 = Sunday.
    """

    minute: str
    hour: str
    day: str
    month: str
    day_of_week: str


def parse_crontab(expression: str) -> Crontab:
    """The schedule of `expression`, or InvalidSchedule saying what is wrong."""
    try:
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
        minute, hour, day, month, weekday = fields
        _check_field(minute, 0, 59, ())
        _check_field(hour, 0, 23, ())
        _check_field(day, 1, 31, ())
        _check_field(month, 1, 12, MONTH_NAMES, first=1)
        return Crontab(minute, hour, day, month, _standard_weekdays(weekday))
    except ValueError as exc:
        raise InvalidSchedule(f"bad cron expression {expression!r}: {exc}") from None


def _value(token: str, low: int, high: int, names: tuple[str, ...], first: int) -> int:
    token = token.lower()
    if token in names:
        return names.index(token) + first
    value = int(token)
    if not low <= value <= high:
        raise ValueError(f"{token!r} is outside {low}–{high}")
    return value


def _check_field(
    field: str, low: int, high: int, names: tuple[str, ...], *, first: int = 0
) -> None:
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        if step_text and int(step_text) < 1:
            raise ValueError(f"bad step in {part!r}")
        if base == "*":
            continue
        start, _, end = base.partition("-")
        lower = _value(start, low, high, names, first)
        if end and _value(end, low, high, names, first) < lower:
            raise ValueError(f"bad range {part!r}")


def _standard_weekdays(field: str) -> str:
    """Crontab day-of-week (0 or 7 = Sunday, 1 = Monday) as day names."""
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            low, high = _day_number(first), _day_number(last)
        else:
            low = _day_number(base)
            high = 6 if step_text else low
        if step < 1 or low > high:
            raise ValueError(f"bad day-of-week range {part!r}")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def _day_number(token: str) -> int:
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    value = int(token)
    if not 0 <= value <= 7:
        raise ValueError(f"day of week {token!r} is not 0–7")
    return value
