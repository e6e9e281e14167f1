"""Complaints: a conversation flagged by staff or by the complaint rules on ingest.

Flagging creates the complaint's follow-up task (`rapport.crm.desk.follow_ups`), due
`follow_up_hours` of business time later; a second flag keeps the first reason
and due date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.conversations import lock_conversation
from rapport.crm.desk.rules import DeskRules
from rapport.crm.models import Conversation, FollowUp
from rapport.crm.staff.audit import Actor, record


def flag_complaint(
    db: Database,
    actor: Actor,
    conversation_id: int,
    rules: DeskRules,
    *,
    reason: str = "staff",
    now: datetime | None = None,
) -> datetime:
    """Mark a complaint and create its follow-up task; returns the follow-up's due time.

    `now` (default: the clock) is when it was flagged: the follow-up falls due
    `follow_up_hours` of business time after it.
    """
    with db.transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        due = _flag(session.connection(), conversation_id, reason, rules, now or utcnow())
        record(
            session,
            actor,
            "conversation.complaint",
            customer_id=conversation.customer_id,
            detail=f"conversation {conversation_id}",
        )
        return due


def _flag(
    conn: Connection, conversation_id: int, reason: str, rules: DeskRules, now: datetime
) -> datetime:
    """Flag and follow-up, idempotent: a second flag keeps the first reason and due date."""
    c = Conversation.__table__.c
    conn.execute(
        update(Conversation.__table__)
        .where(c.id == conversation_id, c.is_complaint.is_(False))
        .values(is_complaint=True, complaint_reason=reason[:60])
    )
    f = FollowUp.__table__.c
    due: datetime | None = conn.scalar(select(f.due_at).where(f.conversation_id == conversation_id))
    if due is not None:
        return due
    due = rules.hours.add(now, rules.follow_up)
    conn.execute(
        insert(FollowUp.__table__).values(
            conversation_id=conversation_id, due_at=due, created_at=now
        )
    )
    return due


@dataclass(frozen=True, slots=True)
class Said:
    """A customer message as ingest stored it, for the complaint rules."""

    conversation_id: int
    text: str
    polarity: float | None


_ALREADY_FLAGGED = select(Conversation.__table__.c.id).where(
    Conversation.__table__.c.id.in_(bindparam("ids", expanding=True)),
    Conversation.__table__.c.is_complaint.is_(True),
)
"""Built once: ingest runs it for every message that trips a rule."""


def flag_complaints_on_ingest(
    conn: Connection,
    said: Sequence[Said],
    rules: DeskRules,
    now: datetime,
) -> int:
    """Flag conversations whose new messages trip a complaint rule; returns how many."""
    flagged: dict[int, str] = {}
    for item in said:
        if item.conversation_id in flagged:
            continue
        word = rules.complaint_word_in(item.text)
        if word is not None:
            flagged[item.conversation_id] = f"word:{word}"
        elif (
            rules.complain_on_strong_negative
            and item.polarity is not None
            and item.polarity <= rules.strongly_negative
        ):
            flagged[item.conversation_id] = "sentiment"
    already = set(conn.scalars(_ALREADY_FLAGGED, {"ids": sorted(flagged)})) if flagged else set()
    for conversation_id, reason in flagged.items():
        if conversation_id not in already:
            _flag(conn, conversation_id, reason, rules, now)
    return len(set(flagged) - already)
