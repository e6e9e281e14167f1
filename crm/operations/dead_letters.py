"""Inbound updates that could not be parsed or handled: retried, then kept for staff.

A channel hands a failing update here instead of holding back the ones
behind it: the update is stored (so acknowledging it to the channel loses
nothing), tried again with back-off up to `MAX_ATTEMPTS` times, and then
kept as "dead" for staff to read (`rapport telegram failed`). One that
cannot even be parsed is dead at once: parsing the same bytes again gives
the same error.

What is kept for staff (`raw`) is the update's JSON with texts and names
redacted: the shape and the ids are what reproduces a failure, the words
are personal data. The full update is kept in `payload` only while it may
still be retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from rapport.crm.database import Database
from rapport.crm.models import DeadLetter

MAX_ATTEMPTS = 5
"""Tries of an update whose handler fails before it is dead."""
FIRST_RETRY = timedelta(seconds=2)
MAX_RETRY = timedelta(minutes=5)
RETRYING = "retrying"
DEAD = "dead"
UNPARSEABLE = "unparseable"

PERSONAL_KEYS = frozenset(
    {"text", "caption", "first_name", "last_name", "username", "title", "phone_number",
     "email", "bio", "description", "question", "address", "name", "vcard", "query"}
)  # fmt: skip
"""JSON keys whose string values are a person's words or names: redacted in `raw`."""


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    update_id: int
    channel: str
    kind: str
    state: str
    error: str
    attempts: int
    raw: str
    first_seen: datetime
    last_seen: datetime
    next_attempt_at: datetime | None


def redact(value: Any) -> Any:
    """The same JSON with every personal string replaced by its length."""
    if isinstance(value, Mapping):
        return {
            k: (f"<{len(v)} chars>" if k in PERSONAL_KEYS and isinstance(v, str) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def describe(error: BaseException) -> str:
    """`TypeError: …`, cut to fit the column; never a traceback."""
    return f"{type(error).__name__}: {error}"[:500]


def retry_delay(attempts: int, first: timedelta = FIRST_RETRY) -> timedelta:
    """Back-off after `attempts` failures: 2 s, 4 s, 8 s, … at most five minutes."""
    delay: timedelta = first * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_RETRY)


def record_failure(
    db: Database,
    channel: str,
    update_id: int,
    kind: str,
    error: str,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    max_attempts: int = MAX_ATTEMPTS,
    first_retry: timedelta = FIRST_RETRY,
) -> DeadLetterView:
    """Count one more failed attempt; dead after `max_attempts` (at once if unparseable)."""
    with db.transaction() as session:
        row = session.scalar(
            select(DeadLetter).where(
                DeadLetter.channel == channel, DeadLetter.update_id == update_id
            )
        )
        if row is None:
            row = DeadLetter(
                channel=channel,
                update_id=update_id,
                kind=kind,
                attempts=0,
                raw=json.dumps(redact(payload), ensure_ascii=False, sort_keys=True),
                first_seen=now,
            )
            session.add(row)
        row.attempts += 1
        row.error = error[:500]
        row.last_seen = now
        if kind == UNPARSEABLE or row.attempts >= max_attempts:
            row.state, row.payload, row.next_attempt_at = DEAD, None, None
        else:
            row.state = RETRYING
            row.payload = json.dumps(dict(payload), ensure_ascii=False)
            row.next_attempt_at = now + retry_delay(row.attempts, first_retry)
        session.flush()
        return _view(row)


def due_retries(db: Database, channel: str, now: datetime) -> list[dict[str, Any]]:
    """The updates whose next attempt is due, oldest first, as received."""
    with db.session() as session:
        payloads = session.scalars(
            select(DeadLetter.payload)
            .where(
                DeadLetter.channel == channel,
                DeadLetter.state == RETRYING,
                DeadLetter.next_attempt_at <= now,
            )
            .order_by(DeadLetter.update_id)
        ).all()
    return [json.loads(p) for p in payloads if p]


def next_retry_at(db: Database, channel: str) -> datetime | None:
    with db.session() as session:
        return session.scalar(
            select(func.min(DeadLetter.next_attempt_at)).where(
                DeadLetter.channel == channel, DeadLetter.state == RETRYING
            )
        )


def recovered(db: Database, channel: str, update_id: int) -> None:
    """A retried update went through after all: nothing to keep."""
    with db.transaction() as session:
        session.execute(
            delete(DeadLetter).where(
                DeadLetter.channel == channel,
                DeadLetter.update_id == update_id,
                DeadLetter.state == RETRYING,
            )
        )


def dead_letters(
    db: Database, *, channel: str | None = None, limit: int = 50, state: str | None = None
) -> list[DeadLetterView]:
    """Newest first: what could not be handled (and what is still being retried)."""
    query = select(DeadLetter).order_by(DeadLetter.last_seen.desc(), DeadLetter.id.desc())
    if channel is not None:
        query = query.where(DeadLetter.channel == channel)
    if state is not None:
        query = query.where(DeadLetter.state == state)
    with db.session() as session:
        return [_view(row) for row in session.scalars(query.limit(limit))]


def count_by_state(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(
            select(DeadLetter.state, func.count()).group_by(DeadLetter.state)
        ).all()
    return {state: n for state, n in rows}


def _view(row: DeadLetter) -> DeadLetterView:
    return DeadLetterView(
        update_id=row.update_id,
        channel=row.channel,
        kind=row.kind,
        state=row.state,
        error=row.error,
        attempts=row.attempts,
        raw=row.raw,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        next_attempt_at=row.next_attempt_at,
    )
