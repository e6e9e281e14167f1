"""Forwarding a customer's later messages to the staff who work the conversation.

Once a conversation was announced, each new customer message goes to its
assignee (or the staff on duty), including the message that reopened a
resolved conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update

from rapport.crm.database import Database
from rapport.crm.desk.conversations import UNRESOLVED
from rapport.crm.models import Conversation, Customer, Direction, Interaction, StaffMember
from rapport.crm.staff.audit import Actor, record


@dataclass(frozen=True, slots=True)
class Forward:
    """A customer's later message in an announced conversation, for the staff who work it."""

    conversation_id: int
    customer_id: int
    customer_name: str | None
    staff_telegram_id: int | None
    """The assigned active staff member's chat; None: the staff on duty."""
    interaction_id: int
    body: str | None
    reopened: bool = False
    """This message reopened the resolved conversation: staff see it again, and why."""


def messages_to_forward(db: Database, *, limit: int = 50) -> list[Forward]:
    """Customer messages newer than what staff were shown, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(
                Conversation.id,
                Conversation.customer_id,
                Customer.display_name,
                StaffMember.telegram_user_id,
                Interaction.id,
                Interaction.body,
                # ingest stores the reopening message's time as reopened_at
                Conversation.reopened_at.is_not(None)
                & (Conversation.reopened_at == Interaction.sent_at),
            )
            .join(Conversation, Conversation.id == Interaction.conversation_id)
            .join(Customer, Customer.id == Conversation.customer_id)
            # a deactivated assignee is nobody: the staff on duty are told instead
            .outerjoin(
                StaffMember,
                (StaffMember.id == Conversation.assigned_staff_id) & StaffMember.active.is_(True),
            )
            .where(
                Conversation.announced_at.is_not(None),
                Conversation.status.in_(UNRESOLVED),
                Interaction.direction == Direction.IN.value,
                Interaction.automated.is_(False),
                Interaction.id > func.coalesce(Conversation.forwarded_through, 0),
            )
            .order_by(Interaction.id)
            .limit(limit)
        ).all()
    return [
        Forward(row[0], row[1], row[2], row[3], row[4], row[5], reopened=bool(row[6]))
        for row in rows
    ]


def mark_forwarded(db: Database, actor: Actor, forwards: Sequence[Forward]) -> None:
    """Staff were shown these messages: move each conversation's mark on, audited."""
    if not forwards:
        return
    with db.transaction() as session:
        for f in forwards:
            session.execute(
                update(Conversation)
                .where(
                    Conversation.id == f.conversation_id,
                    func.coalesce(Conversation.forwarded_through, 0) < f.interaction_id,
                )
                .values(forwarded_through=f.interaction_id)
            )
            record(
                session,
                actor,
                "conversation.forward",
                customer_id=f.customer_id,
                detail=f"conversation {f.conversation_id}",
            )
