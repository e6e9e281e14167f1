"""Interactions: every message in or out, the customer's history."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, BigId, UtcDateTime

if TYPE_CHECKING:
    from rapport.crm.models.desk import Conversation


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


SENTIMENT_INDEX_WHERE = {
    "sqlite": "direction = 'in' AND automated IS 0 AND polarity IS NOT NULL",
    "postgresql": "direction = 'in' AND automated IS false AND polarity IS NOT NULL",
}
"""Rows of `ix_interactions_sentiment`: what customers wrote, scored, the sentiment report's rows.

Partial, so outbound messages cost it nothing; written as each database
spells the report's own conditions (rapport.crm.reports.series.sentiment_by_day), which is
how the planner recognises it can use the index.
"""


class Interaction(Base):
    """One message in or out, with its sentiment; the customer's history."""

    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("channel", "message_key"),
        Index("ix_interactions_customer_sent", "customer_id", "sent_at"),
        # A conversation's messages newest first: the thread, the inbox's latest (0020).
        Index("ix_interactions_conversation_sent", "conversation_id", "sent_at", "id"),
        Index(
            "ix_interactions_sentiment",
            "sent_at",
            "polarity",
            sqlite_where=text(SENTIMENT_INDEX_WHERE["sqlite"]),
            postgresql_where=text(SENTIMENT_INDEX_WHERE["postgresql"]),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(3))
    body: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(8))
    polarity: Mapped[float | None] = mapped_column(Float)
    subjectivity: Mapped[float | None] = mapped_column(Float)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    message_key: Mapped[str | None] = mapped_column(String(300))
    in_reply_to: Mapped[str | None] = mapped_column(String(300))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_sent_at: Mapped[str | None] = mapped_column(String(100))
    """The sender's `Date:` when it was not believed (rapport.channels.email.parsing)."""
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    conversation: Mapped[Conversation | None] = relationship()
