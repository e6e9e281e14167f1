"""Local calendar days and months as SQL buckets, the same on SQLite and PostgreSQL.

Reports count by the business's days and months (RAPPORT_TIMEZONE), not UTC
ones: a message at 00:30 in Berlin belongs to that Berlin day. SQLite has no
time zones, so instead of converting each row the boundaries are worked out
here, in Python, where daylight-saving changes are known (`zoneinfo`), and the
query labels each row with one CASE over them (latest boundary first). The
stored values stay UTC; only the labels are local.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, case, literal, null

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


def as_date(label: object) -> date:
    return label if isinstance(label, date) else date.fromisoformat(str(label))
