"""Tables of email outreach: double opt-in requests, bounce and complaint reports, keys.

Kept beside the core model (and re-exported by it) because they belong to one
journey: asking a person by mail whether they want mail, and hearing back
from the mail system when an address stops working.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, BigId, UtcDateTime


class OptInRequest(Base):
    """One "please confirm you want our mail" sent to an address (double opt-in).

    See rapport.crm.privacy.opt_in. Nobody becomes a customer, or gets
    consent, until the link's button is pressed or the mail answered "YES";
    `confirmed_at` makes the link single-use.
    """

    __tablename__ = "opt_in_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(200))
    """Who started it: "cli:ann", "staff:3:Ada", "web:/subscribe"."""
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    request_meta: Mapped[str | None] = mapped_column(Text)
    """JSON: the web request's address and browser, when it came from the subscribe page."""
    message_key: Mapped[str | None] = mapped_column(String(300), index=True)
    """Message-ID of the confirmation mail, so a reply "YES" finds its request."""
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_via: Mapped[str | None] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    """The customer the confirmation made (or found), once confirmed."""


class MailReport(Base):
    """A bounce, complaint or auto-reply the mail system sent us: never a customer message.

    See rapport.crm.interactions.bounces. `message_key` (the report's own
    Message-ID) is unique, so a report delivered twice is counted once;
    `customer_id` is null when nobody could be matched ("unmatched").
    """

    __tablename__ = "mail_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    """bounce, complaint or auto_reply."""
    message_key: Mapped[str] = mapped_column(String(300), unique=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    recipient: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(12))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(60))
    """What Rapport did: "unreachable", "soft bounce 1 of 3", "consent withdrawn", "unmatched"…"""


class AppSecret(Base):
    """A generated secret kept in the database (the link-signing key when none is configured).

    Every Rapport process on the database reads the same one, so a link made
    by `rapport customers invite` verifies in `rapport run`'s web server.
    """

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
