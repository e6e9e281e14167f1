"""Tables of running Rapport itself: updates it could not handle, its tasks' health, claims.

Kept beside the core model (and re-exported by it) because staff read them
from the CLI (`rapport telegram failed`, `rapport health`) and the console:
what the bot could not take in must be visible, never lost in a log.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, BigId, UtcDateTime


class DeadLetter(Base):
    """An inbound update that could not be parsed or handled (rapport.crm.operations).

    One row per (channel, update id). While `state` is "retrying" the channel
    tries it again at `next_attempt_at`; after the last attempt it is "dead":
    acknowledged to the channel and kept here for staff to read. `raw` is the
    update's JSON with message text and names redacted (ids and the update's
    shape remain, which is what a developer needs to reproduce the failure).
    """

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("channel", "update_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    update_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(40))
    """What the update carried: message, callback_query, … or "unparseable"."""
    state: Mapped[str] = mapped_column(String(12), index=True)
    """retrying or dead."""
    error: Mapped[str] = mapped_column(String(500))
    """The exception's type and message (no traceback: it may quote SQL parameters)."""
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    raw: Mapped[str] = mapped_column(Text)
    """The update (JSON) as it came, personal text redacted; for a retry, the full update
    is kept in `payload` until it is dead."""
    payload: Mapped[str | None] = mapped_column(Text)
    """The update as received, needed to try it again; cleared once it is dead."""
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TaskHealth(Base):
    """The state of one long-running task of `rapport run` (rapport.channels.supervision)."""

    __tablename__ = "task_health"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    state: Mapped[str] = mapped_column(String(12))
    """running, restarting, failed or stopped."""
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_ok: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class HandledCommand(Base):
    """A staff command claimed for handling: its side effects happen once per message.

    The key names the chat and the message (`msg:{chat}:{message}`); a
    redelivered or retried update finds its claim and does nothing again.
    """

    __tablename__ = "handled_commands"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
