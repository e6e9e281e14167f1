"""A complaint's follow-up task: listed, reminded once when it falls due, marked done.

`rapport.crm.desk.complaints` creates the task when a conversation is flagged as a
complaint (due `follow_up_hours` of business time later) and
`rapport.crm.desk.resolution` closes it when the conversation is resolved.
Here staff see the open tasks, overdue first, and may mark one done without
resolving the conversation (the customer was called back, the conversation
stays open for their answer).

The desk round reminds of a task that fell due undone, once. It marks the
reminder *after* a staff chat took it (`mark_reminded`), not before: a crash
between sending and marking repeats a reminder on the next round, which
staff can ignore, while claiming first would lose it, and a lost reminder is
an overdue complaint nobody looks at. Only one desk round runs (in
`rapport run`), so two rounds never race for the same task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.business_hours import BusinessHours
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.models import Conversation, Customer, FollowUp, StaffMember
from rapport.crm.staff.audit import Actor, record


@dataclass(frozen=True, slots=True)
class FollowUpView:
    """One follow-up task as staff list it."""

    conversation_id: int
    customer_id: int
    customer_name: str | None
    reason: str | None
    """Why the conversation is a complaint: "staff", "word:refund", "sentiment"."""
    assigned_name: str | None
    status: str
    due_at: datetime
    done_at: datetime | None
    reminded_at: datetime | None

    def overdue(self, now: datetime) -> bool:
        return self.done_at is None and self.due_at <= now


@dataclass(frozen=True, slots=True)
class FollowUpReminder:
    """A follow-up that fell due undone and was not reminded of yet."""

    follow_up_id: int
    conversation_id: int
    first_name: str | None
    reason: str | None
    staff_telegram_id: int | None
    """The assigned active member's chat; None: the staff on duty."""
    due_at: datetime


def first_name(name: str | None) -> str | None:
    """Only the first word of a customer's name: reminders may go to a shared staff group."""
    words = (name or "").split()
    return words[0] if words else None


def describe_reason(reason: str | None) -> str:
    """Why it is a complaint, in words (word:refund → the word "refund") for staff."""
    if not reason:
        return "complaint"
    if reason.startswith("word:"):
        return f'complaint: the word "{reason[5:]}"'
    if reason == "sentiment":
        return "complaint: a strongly negative message"
    if reason == "staff":
        return "complaint: flagged by staff"
    return f"complaint: {reason}"


def overdue_by(hours: BusinessHours, due: datetime, now: datetime) -> str:
    """How late, in business time (the due date was set in business time too)."""
    late = hours.elapsed(due, now)
    minutes = int(late / timedelta(minutes=1))
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"by {minutes} min of business time"
    return f"by {minutes / 60:.1f} business hours"


def list_follow_ups(
    db: Database, actor: Actor, *, include_done: bool = False, limit: int = 500
) -> list[FollowUpView]:
    """Open follow-ups, earliest due first, so the overdue ones lead (audited: names customers)."""
    with db.transaction() as session:
        query = (
            select(
                FollowUp,
                Conversation.customer_id,
                Conversation.complaint_reason,
                Conversation.status,
                Customer.display_name,
                StaffMember.name,
            )
            .join(Conversation, Conversation.id == FollowUp.conversation_id)
            .join(Customer, Customer.id == Conversation.customer_id)
            .outerjoin(StaffMember, StaffMember.id == Conversation.assigned_staff_id)
            .order_by(FollowUp.done_at.is_not(None), FollowUp.due_at, FollowUp.id)
            .limit(limit)
        )
        if not include_done:
            query = query.where(FollowUp.done_at.is_(None))
        views = [
            FollowUpView(
                conversation_id=f.conversation_id,
                customer_id=customer_id,
                customer_name=name,
                reason=reason,
                assigned_name=staff,
                status=status,
                due_at=f.due_at,
                done_at=f.done_at,
                reminded_at=f.reminded_at,
            )
            for f, customer_id, reason, status, name, staff in session.execute(query)
        ]
        record(session, actor, "followups.list", detail=f"{len(views)} shown")
        return views


def mark_done(
    db: Database, actor: Actor, conversation_id: int, *, now: datetime | None = None
) -> FollowUpView:
    """Close a conversation's follow-up without resolving the conversation (audited).

    `now` (default: the clock) is when it was done.
    """
    with db.transaction() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(f"no conversation #{conversation_id}")
        task = session.scalar(
            select(FollowUp).where(FollowUp.conversation_id == conversation_id).with_for_update()
        )
        if task is None:
            raise NotFound(f"conversation #{conversation_id} has no follow-up task")
        if task.done_at is not None:
            raise InvalidInput(
                f"the follow-up of conversation #{conversation_id} is already done "
                f"({task.done_at:%Y-%m-%d %H:%M} UTC)"
            )
        task.done_at = now or utcnow()
        record(
            session,
            actor,
            "followup.done",
            customer_id=conversation.customer_id,
            detail=f"conversation {conversation_id}",
        )
        staff = (
            session.get(StaffMember, conversation.assigned_staff_id)
            if conversation.assigned_staff_id is not None
            else None
        )
        customer = session.get(Customer, conversation.customer_id)
        return FollowUpView(
            conversation_id=conversation_id,
            customer_id=conversation.customer_id,
            customer_name=customer.display_name if customer else None,
            reason=conversation.complaint_reason,
            assigned_name=staff.name if staff else None,
            status=conversation.status,
            due_at=task.due_at,
            done_at=task.done_at,
            reminded_at=task.reminded_at,
        )


def due_follow_ups(db: Database, now: datetime, *, limit: int = 50) -> list[FollowUpReminder]:
    """Follow-ups past due, not done and not reminded of yet, earliest due first.

    Nothing is marked here: the caller sends, then calls `mark_reminded`.
    """
    with db.session() as session:
        rows = session.execute(
            select(
                FollowUp.id,
                FollowUp.conversation_id,
                Customer.display_name,
                Conversation.complaint_reason,
                StaffMember.telegram_user_id,
                StaffMember.active,
                FollowUp.due_at,
            )
            .join(Conversation, Conversation.id == FollowUp.conversation_id)
            .join(Customer, Customer.id == Conversation.customer_id)
            .outerjoin(StaffMember, StaffMember.id == Conversation.assigned_staff_id)
            .where(
                FollowUp.done_at.is_(None),
                FollowUp.reminded_at.is_(None),
                FollowUp.due_at <= now,
            )
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(limit)
        ).all()
    return [
        FollowUpReminder(
            follow_up_id=row.id,
            conversation_id=row.conversation_id,
            first_name=first_name(row.display_name),
            reason=row.complaint_reason,
            staff_telegram_id=row.telegram_user_id if row.active else None,
            due_at=row.due_at,
        )
        for row in rows
    ]


def mark_reminded(db: Database, reminders: Sequence[FollowUpReminder], now: datetime) -> None:
    """Staff were told of these follow-ups: never again (a restart reads `reminded_at`)."""
    if not reminders:
        return
    with db.transaction() as session:
        session.execute(
            update(FollowUp)
            .where(
                FollowUp.id.in_([r.follow_up_id for r in reminders]),
                FollowUp.reminded_at.is_(None),
            )
            .values(reminded_at=now)
        )
