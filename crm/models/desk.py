"""The desk: conversations, complaint follow-ups, CSAT questions, announcements."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, BigId, UtcDateTime


class ConversationStatus(StrEnum):
    OPEN = "open"
    WAITING = "waiting"
    RESOLVED = "resolved"


UNRESOLVED_INDEX_WHERE = "status IN ('open', 'waiting')"
"""Rows of `ix_conversations_unresolved`: the inbox's conversations. The inbox writes the
same two statuses into its SQL (not as bound values), so the planners can use the index."""


class Conversation(Base):
    """A thread of contact with a customer, from first message to resolution."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_customer_status", "customer_id", "status"),
        # The inbox's order over unresolved ones only (migration 0020, rapport.crm.desk.inbox).
        Index(
            "ix_conversations_unresolved",
            "last_message_at",
            "id",
            sqlite_where=text(UNRESOLVED_INDEX_WHERE),
            postgresql_where=text(UNRESOLVED_INDEX_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=ConversationStatus.OPEN)
    assigned_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    is_complaint: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    announced_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    """When staff on duty were told of it; None: still to announce.

    See rapport.crm.desk.announcements.
    """
    complaint_reason: Mapped[str | None] = mapped_column(String(60))
    """Why it is a complaint: "staff", "sentiment" or "word:<word>"."""
    send_error: Mapped[str | None] = mapped_column(String(300))
    """The last staff reply that could not be delivered, until one gets through."""
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    auto_answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When the automatic first answer went out; set once, so it is sent once."""
    forwarded_through: Mapped[int | None] = mapped_column(BigId)
    """The newest customer message (interaction id) staff were shown in Telegram."""
    reopened_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How often a customer message reopened it after resolution.

    See rapport.crm.interactions.routing.
    """
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The message time of the latest reopen; kept after the next resolution, for reporting."""


class FollowUp(Base):
    """The task a complaint creates: look at it again by `due_at`; done when resolved.

    Staff may also mark it done without resolving (rapport.crm.desk.follow_ups.mark_done).
    `reminded_at`: when the desk round told staff it fell due undone (once).
    """

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), unique=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ConversationSurvey(Base):
    """The CSAT question sent when a complaint is resolved, and its one answer."""

    __tablename__ = "conversation_surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    message_key: Mapped[str] = mapped_column(String(300), index=True)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    interaction_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("interactions.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AnnouncementMessage(Base):
    """A new conversation's announcement in one agent's own chat (never the staff group).

    Kept so that when someone takes the conversation the other agents' copies
    can be edited to say so, instead of inviting a second agent to take it;
    `noted_staff_id` is the member whose take the message shows already.
    """

    __tablename__ = "announcement_messages"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger)
    noted_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
