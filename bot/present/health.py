"""The health of the running tasks as one listing, for `rapport health` and the console.

Both read the `task_health` rows (rapport.crm.operations.health) through
this one builder, so the terminal, the CSV and the console's health page say
the same: each task, whether it is live (running and beating), its last
beat, and why it is not live when it is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rapport.bot.present.listing import Column, Kind, Listing
from rapport.bot.present.lists import times_note

if TYPE_CHECKING:
    from rapport.crm.operations.health import TaskView


def health_listing(tasks: Iterable[TaskView], now: datetime, zone: ZoneInfo) -> Listing:
    listing = Listing(
        [
            Column("task", "task", needed=True, name=True),
            Column("live", "live", needed=True),
            Column("state", "state", needed=True),
            Column("last_beat_at", "last beat", Kind.WHEN, needed=True),
            Column("why_not", "why not live", long="why it is not live"),
            Column("restarts", "restarts", Kind.COUNT),
            Column("last_error", "last error"),
            Column("last_error_at", "error at", Kind.WHEN, long="last error at"),
        ]
    )
    for t in tasks:
        listing.add(
            task=t.name,
            live="yes" if t.live(now) else "no",
            state=t.state,
            last_beat_at=t.updated_at,
            why_not=t.why_not(now),
            restarts=t.restarts,
            last_error=t.last_error or "",
            last_error_at=t.last_error_at,
        )
    listing.notes.append(times_note(zone))
    return listing
