"""Complaints: a conversation flagged by staff or by the complaint rules on ingest.

Flagging creates the complaint's follow-up task (`rapport.crm.desk.follow_ups`), due
`follow_up_hours` of business time later; a second flag keeps the first reason
and due date.

Core over the tables' columns on purpose where ingest flags complaints: the
rules run on every inbound message, in statements built once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Insert, Select, Update, bindparam, insert, select, update

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.conversations import lock_conversation
from rapport.crm.desk.rules import DeskRules
from rapport.crm.models import Conversation, FollowUp, UtcDateTime
from rapport.crm.prepared import Prepared
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
    conn: Connection,
    conversation_id: int,
    reason: str,
    rules: DeskRules,
    now: datetime,
    *,
    opened: bool = False,
) -> datetime:
    """Flag and follow-up, idempotent: a second flag keeps the first reason and due date.

    `opened`: the conversation was opened in this transaction, so it has no
    follow-up yet and none is looked up.
    """
    conn.execute(_MARK, {"cid": conversation_id, "reason": reason[:60]})
    if not opened:
        due: datetime | None = conn.scalar(_DUE, {"cid": conversation_id})
        if due is not None:
            return due
    due = rules.hours.add(now, rules.follow_up)
    conn.execute(_FOLLOW_UP, {"cid": conversation_id, "due": due, "now": now})
    return due


def _statements() -> tuple[Update, Select[Any], Insert]:
    """Built once, Core: ingest flags on the single-message path (see `flag_complaints_on_ingest`),
    where building a statement costs more than running it."""
    c = Conversation.__table__.c
    mark = (
        update(Conversation.__table__)
        .where(c.id == bindparam("cid"), c.is_complaint.is_(False))
        .values(is_complaint=True, complaint_reason=bindparam("reason"))
    )
    f = FollowUp.__table__.c
    due = select(f.due_at).where(f.conversation_id == bindparam("cid"))
    follow_up = insert(FollowUp.__table__).values(
        conversation_id=bindparam("cid"),
        due_at=bindparam("due", type_=UtcDateTime()),
        created_at=bindparam("now", type_=UtcDateTime()),
    )
    return mark, due, follow_up


_MARK, _DUE, _FOLLOW_UP = _statements()


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

_HAVE_FOLLOW_UP = select(FollowUp.__table__.c.conversation_id).where(
    FollowUp.__table__.c.conversation_id.in_(bindparam("ids", expanding=True))
)

# The same statements on the driver's cursor, for the ingest hot path (rapport.crm.prepared).
_ALREADY_FLAGGED_ON_INGEST = Prepared(_ALREADY_FLAGGED)
_MARK_ON_INGEST = Prepared(_MARK)
_HAVE_FOLLOW_UP_ON_INGEST = Prepared(_HAVE_FOLLOW_UP)
_FOLLOW_UP_ON_INGEST = Prepared(_FOLLOW_UP)


def flag_complaints_on_ingest(
    conn: Connection,
    said: Sequence[Said],
    rules: DeskRules,
    now: datetime,
    *,
    flagged: Collection[int] | None = None,
    opened: Collection[int] = (),
) -> int:
    """Flag conversations whose new messages trip a complaint rule; returns how many.

    `flagged`: the conversations already complaints, when the caller knows the
    flag of every conversation in `said` (ingest reads it with the sender);
    else it is looked up. `opened`: conversations opened in this transaction.
    """
    tripped: dict[int, str] = {}
    for item in said:
        if item.conversation_id in tripped:
            continue
        word = rules.complaint_word_in(item.text)
        if word is not None:
            tripped[item.conversation_id] = f"word:{word}"
        elif (
            rules.complain_on_strong_negative
            and item.polarity is not None
            and item.polarity <= rules.strongly_negative
        ):
            tripped[item.conversation_id] = "sentiment"
    if not tripped:
        return 0
    if flagged is None:
        flagged = {
            row[0] for row in _ALREADY_FLAGGED_ON_INGEST.rows(conn, {"ids": sorted(tripped)})
        }
    new = {cid: reason for cid, reason in tripped.items() if cid not in flagged}
    if not new:
        return 0
    # Set-based, as `_flag` does one by one: a batch with twenty complaints is
    # three statements, not sixty.
    _MARK_ON_INGEST.execute_many(
        conn, [{"cid": cid, "reason": reason[:60]} for cid, reason in new.items()]
    )
    existing = sorted(cid for cid in new if cid not in opened)
    have = (
        {row[0] for row in _HAVE_FOLLOW_UP_ON_INGEST.rows(conn, {"ids": existing})}
        if existing
        else set()
    )
    due = rules.hours.add(now, rules.follow_up)
    follow_ups = [{"cid": cid, "due": due, "now": now} for cid in new if cid not in have]
    if follow_ups:
        _FOLLOW_UP_ON_INGEST.execute_many(conn, follow_ups)
    return len(new)
