"""Local calendar days and months as SQL labels, the same on SQLite and PostgreSQL.

Reports count by the business's days and months (RAPPORT_TIMEZONE), not UTC
ones: a message at 00:30 in Berlin belongs to that Berlin day. PostgreSQL
converts with `timezone(zone, …)`. SQLite has no time zones, so the
stretches of constant UTC offset over the period (one, or two around a
daylight-saving change) are worked out here with `zoneinfo`, and each row is
shifted by its stretch's offset in one small CASE (`local_label`). The stored
values stay UTC; only the labels are local. `bucket` (a CASE over every
boundary) is the slower general form, kept for boundaries of one's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, SQLColumnExpression, String, case, func, literal, null

Boundary = tuple[datetime, str]
"""(the local start of a bucket, as an aware datetime; its label)."""


def day_boundaries(start: datetime, end: datetime, zone: ZoneInfo) -> list[Boundary]:
    """The local days that [start, end) touches, labelled YYYY-MM-DD."""
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [(datetime(d.year, d.month, d.day, tzinfo=zone), d.isoformat()) for d in days]


def month_boundaries(start: datetime, end: datetime, zone: ZoneInfo) -> list[Boundary]:
    """The local months that [start, end) touches, labelled YYYY-MM."""
    a, b = start.astimezone(zone), (end - timedelta(microseconds=1)).astimezone(zone)
    found = []
    year, month = a.year, a.month
    while (year, month) <= (b.year, b.month):
        found.append((datetime(year, month, 1, tzinfo=zone), f"{year:04d}-{month:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def bucket(column: ColumnElement[datetime], boundaries: Sequence[Boundary]) -> ColumnElement[Any]:
    """The label of the bucket `column` falls in (NULL before the first boundary)."""
    if not boundaries:
        return literal(None, type_=String)
    whens = [
        (column >= literal(at.astimezone(UTC), type_=column.type), label)
        for at, label in reversed(boundaries)
    ]
    return case(*whens, else_=null())


def offset_stretches(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, int]]:
    """(UTC instant it starts, UTC offset in seconds) per stretch of one offset in [start, end).

    Walked a day at a time, each change then found to the minute (zones change
    on a minute); the first stretch starts at `start`.
    """

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    at = start.astimezone(UTC)
    found = [(at, offset(at))]
    stop = end.astimezone(UTC)
    while at < stop:
        step = min(at + timedelta(days=1), stop)
        if offset(step) != found[-1][1]:
            low, high = at, step  # the change is in (low, high]
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if offset(middle) == found[-1][1]:
                    low = middle
                else:
                    high = middle
            change = high.replace(second=0, microsecond=0)
            found.append((change, offset(change)))
        at = step
    return found


def local_label(
    dialect: str,
    column: SQLColumnExpression[Any],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    length: int,
) -> ColumnElement[Any]:
    """The first `length` characters of the local time of `column`: 10 a day, 7 a month.

    Meant for rows in [start, end); a row outside is labelled with the nearest
    stretch's offset.
    """
    if dialect != "sqlite":
        pattern = "YYYY-MM-DD" if length == 10 else "YYYY-MM"
        return func.to_char(func.timezone(zone.key, column), pattern)

    def shifted(seconds: int) -> ColumnElement[Any]:
        return func.substr(func.datetime(column, f"{seconds:+d} seconds"), 1, length)

    stretches = offset_stretches(start, end, zone)
    stored_as = cast(ColumnElement[Any], column).type  # an ORM attribute has it too
    if len(stretches) == 1:
        return shifted(stretches[0][1])
    whens = [
        (column >= literal(at, type_=stored_as), shifted(seconds))
        for at, seconds in reversed(stretches[1:])
    ]
    return case(*whens, else_=shifted(stretches[0][1]))


def as_date(label: object) -> date:
    return label if isinstance(label, date) else date.fromisoformat(str(label))
