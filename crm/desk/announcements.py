"""Announcing new conversations to the staff on duty, and noting who took them.

The desk round shows staff each unresolved conversation once
(`pending_announcements`, `mark_announced`); when one is taken, the copies in
the other agents' chats are edited to say by whom (`take_notes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.conversations import UNRESOLVED
from rapport.crm.models import (
    AnnouncementMessage,
    Conversation,
    Customer,
    CustomerTag,
    Direction,
    Interaction,
    StaffMember,
)
from rapport.crm.staff.audit import Actor, record


@dataclass(frozen=True, slots=True)
class Announcement:
    conversation_id: int
    customer_id: int
    customer_name: str | None
    channel: str
    tags: tuple[str, ...]
    earlier_conversations: int
    is_complaint: bool
    first_message: str | None
    first_message_id: int | None = None


def pending_announcements(db: Database, *, limit: int = 20) -> list[Announcement]:
    """Unresolved conversations staff have not been told of yet, oldest first."""
    with db.session() as session:
        conversations = list(
            session.scalars(
                select(Conversation)
                .where(Conversation.announced_at.is_(None), Conversation.status.in_(UNRESOLVED))
                .order_by(Conversation.id)
                .limit(limit)
            )
        )
        found = []
        for c in conversations:
            customer = session.get(Customer, c.customer_id)
            tags = session.scalars(
                select(CustomerTag.tag).where(CustomerTag.customer_id == c.customer_id)
            ).all()
            earlier = session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.customer_id == c.customer_id, Conversation.id < c.id)
            )
            first = session.execute(
                select(Interaction.id, Interaction.body)
                .where(
                    Interaction.conversation_id == c.id,
                    Interaction.direction == Direction.IN.value,
                )
                .order_by(Interaction.sent_at, Interaction.id)
                .limit(1)
            ).first()
            found.append(
                Announcement(
                    conversation_id=c.id,
                    customer_id=c.customer_id,
                    customer_name=customer.display_name if customer else None,
                    channel=c.channel,
                    tags=tuple(sorted(tags)),
                    earlier_conversations=earlier or 0,
                    is_complaint=c.is_complaint,
                    first_message=first.body if first else None,
                    first_message_id=first.id if first else None,
                )
            )
        return found


def mark_announced(
    db: Database,
    actor: Actor,
    announcements: Sequence[Announcement],
    messages: Sequence[tuple[int, int, int]] = (),
) -> None:
    """Staff were shown these customers' messages: note it, and audit it per customer.

    `messages`: (conversation, chat, message id) of the copies in agents' own
    chats, so a take can be shown on the others (`take_notes`).
    """
    if not announcements:
        return
    now = utcnow()
    with db.transaction() as session:
        for conversation_id, chat_id, message_id in messages:
            session.add(
                AnnouncementMessage(
                    conversation_id=conversation_id, chat_id=chat_id, message_id=message_id
                )
            )
        session.execute(
            update(Conversation)
            .where(
                Conversation.id.in_([a.conversation_id for a in announcements]),
                Conversation.announced_at.is_(None),
            )
            .values(announced_at=now)
        )
        for a in announcements:
            session.execute(
                update(Conversation)
                .where(
                    Conversation.id == a.conversation_id, Conversation.forwarded_through.is_(None)
                )
                .values(forwarded_through=a.first_message_id)
            )
            record(
                session,
                actor,
                "conversation.announce",
                customer_id=a.customer_id,
                detail=f"conversation {a.conversation_id}",
            )


@dataclass(frozen=True, slots=True)
class TakeNote:
    """An agent's copy of an announcement that does not yet show who took the conversation."""

    conversation_id: int
    chat_id: int
    message_id: int
    staff_id: int
    staff_name: str
    own: bool
    """The chat is the taker's own: nothing to edit, only to note."""


def take_notes(
    db: Database, conversation_id: int | None = None, *, limit: int = 100
) -> list[TakeNote]:
    """Announcement copies whose conversation was taken (or taken over) since they were sent.

    Without `conversation_id`, only unresolved conversations are looked at,
    so the desk round's scan stays as small as the open desk.
    """
    where: list[ColumnElement[bool]] = [
        Conversation.assigned_staff_id.is_not(None),
        (AnnouncementMessage.noted_staff_id.is_(None))
        | (AnnouncementMessage.noted_staff_id != Conversation.assigned_staff_id),
    ]
    if conversation_id is not None:
        where.append(Conversation.id == conversation_id)
    else:
        where.append(Conversation.status.in_(UNRESOLVED))
    with db.session() as session:
        rows = session.execute(
            select(
                AnnouncementMessage.conversation_id,
                AnnouncementMessage.chat_id,
                AnnouncementMessage.message_id,
                StaffMember.id,
                StaffMember.name,
                StaffMember.telegram_user_id,
            )
            .join(Conversation, Conversation.id == AnnouncementMessage.conversation_id)
            .join(StaffMember, StaffMember.id == Conversation.assigned_staff_id)
            .where(*where)
            .order_by(AnnouncementMessage.conversation_id, AnnouncementMessage.chat_id)
            .limit(limit)
        ).all()
    return [TakeNote(row[0], row[1], row[2], row[3], row[4], own=row[5] == row[1]) for row in rows]


def mark_take_noted(db: Database, notes: Sequence[TakeNote]) -> None:
    """These copies show their conversation's current taker now."""
    with db.transaction() as session:
        for note in notes:
            session.execute(
                update(AnnouncementMessage)
                .where(
                    AnnouncementMessage.conversation_id == note.conversation_id,
                    AnnouncementMessage.chat_id == note.chat_id,
                )
                .values(noted_staff_id=note.staff_id)
            )
