"""Deactivating a staff member ends their access everywhere at once.

`deactivate_staff` is what `rapport staff remove` does: in one transaction
the member becomes inactive, and each of their open or waiting conversations
is unassigned and marked to be announced again, so the next desk round tells
the staff on duty (the staff chat, else each active agent) that it needs an
owner. From then on the member gets nothing: staff commands step aside for
them (`staff_by_telegram` finds active members only), forwards and reminders
join staff on `active` (rapport.crm.desk.forwarding, rapport.crm.desk.report,
rapport.crm.desk.follow_ups), and every desk message passes the staff-chat
policy, which lets only active members' private chats through
(rapport.crm.staff.chats).

Handing the conversations to someone in particular is left to the staff on
duty (`/take`): the desk has no notion of who has room for more, and an
announcement everyone sees is how a new conversation is shared out anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.conversations import UNRESOLVED
from rapport.crm.errors import NotFound
from rapport.crm.models import AnnouncementMessage, Conversation, StaffMember
from rapport.crm.staff.audit import Actor, record


@dataclass(frozen=True, slots=True)
class Handover:
    staff_id: int
    name: str
    was_active: bool
    conversations: tuple[int, ...]
    """The open conversations unassigned and announced again to the staff on duty."""


def deactivate_staff(db: Database, actor: Actor, staff_id: int) -> Handover:
    """Deactivate the member and hand their open conversations back to the desk; audited.

    Repeatable: a second call finds nothing assigned and changes nothing more.
    """
    now = utcnow()
    with db.transaction() as session:
        member = session.get(StaffMember, staff_id, with_for_update=True)
        if member is None:
            raise NotFound(f"no staff member {staff_id}")
        was_active = member.active
        member.active = False
        theirs = list(
            session.execute(
                select(Conversation.id, Conversation.customer_id)
                .where(
                    Conversation.assigned_staff_id == staff_id,
                    Conversation.status.in_(UNRESOLVED),
                )
                .order_by(Conversation.id)
            )
        )
        if theirs:
            ids = [row.id for row in theirs]
            session.execute(
                update(Conversation)
                .where(Conversation.id.in_(ids))
                .values(assigned_staff_id=None, announced_at=None)
            )
            # The old copies said "taken by <member>"; the new announcement replaces them.
            session.execute(
                delete(AnnouncementMessage).where(AnnouncementMessage.conversation_id.in_(ids))
            )
        record(
            session,
            actor,
            "staff.change",
            detail=f"staff {staff_id} role={member.role} active=False",
        )
        for row in theirs:
            record(
                session,
                actor,
                "conversation.handover",
                customer_id=row.customer_id,
                detail=f"conversation {row.id} unassigned from staff {staff_id} at {now:%H:%M}",
            )
        return Handover(staff_id, member.name, was_active, tuple(row.id for row in theirs))
