"""Consent per channel and purpose, its history, and used unsubscribe links."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, BigId, UtcDateTime


class ConsentPurpose(StrEnum):
    """What a consent is for; service messages need none, so only marketing is recorded."""

    MARKETING = "marketing"


class Consent(Base):
    """A customer's current choice for one purpose on one channel.

    Per channel because people agree to offers by email and not on their
    phone, or the reverse; `customers.marketing_consent` summarises it (true
    when any channel is granted) for segments and listings.
    """

    __tablename__ = "consents"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ConsentEvent(Base):
    """Every consent given or withdrawn, with how: the proof a regulator asks for. Append-only."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    evidence: Mapped[str | None] = mapped_column(Text)
    """JSON: how it was given in detail (the request's address and browser, the import file
    and line, the staff member and their note); see rapport.crm.privacy.consent."""


class UnsubscribeUse(Base):
    """An unsubscribe link (one per delivery) that was used, so it cannot be used again."""

    __tablename__ = "unsubscribe_uses"

    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
