"""Times in the business's time zone (RAPPORT_TIMEZONE), with the zone shown.

The core stores and computes in UTC; people read local time. A moment shown
to a person carries its zone's abbreviation (`CET`, `CEST`), so two rows on
either side of a daylight-saving change read right; a table header or a
report line names the zone once (`Europe/Berlin`). CSV and JSON get ISO 8601
with the offset (`2026-03-29T03:15:00+02:00`): unambiguous for a script and
still local for a spreadsheet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from rapport.bot.present.numbers import NO_DATA

PARTIAL = "partial"


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """The moment in the business's zone (a naive value is taken as UTC, as stored)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone)


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment as a person reads it: "2026-03-29 03:15 CEST"."""
    return NO_DATA if moment is None else f"{local(moment, zone):%Y-%m-%d %H:%M %Z}"


def when_value(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """The same moment for CSV and JSON: ISO 8601 with the offset, seconds kept."""
    return None if moment is None else local(moment, zone).replace(microsecond=0).isoformat()


def day(value: date) -> str:
    """A calendar day: "29 Mar 2026"."""
    return f"{value.day} {value:%b %Y}"


def zone_name(zone: ZoneInfo) -> str:
    """The zone as the settings name it ("Europe/Berlin")."""
    return zone.key


def period(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """A report period in local time with the zone.

    "2 Nov 2026 14:00 – 2 Dec 2026 14:00 (Europe/Berlin)"
    """
    a, b = local(start, zone), local(end, zone)
    return f"{a.day} {a:%b %Y %H:%M} – {b.day} {b:%b %Y %H:%M} ({zone.key})"


def month_label(month: str, current: str, until: datetime, zone: ZoneInfo) -> str:
    """A YYYY-MM month, marked when it is the month still running: "2026-12 (partial, to 2 Dec)"."""
    if month != current:
        return month
    now = local(until, zone)
    return f"{month} ({PARTIAL}, to {now.day} {now:%b})"
