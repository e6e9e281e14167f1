"""The current time, in one place: `utcnow`, and the `Clock` type services take for it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""What tells a service the time; `utcnow` in production, a settable one in tests.

Pass a clock (or a `now` argument) to code whose behaviour depends on the
time, instead of patching `utcnow` where it is imported.
"""


def utcnow() -> datetime:
    """Now, timezone-aware in UTC: the only kind of timestamp the core stores."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive values are taken to be UTC already (that is how SQLite returns them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
