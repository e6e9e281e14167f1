"""Customers and what identifies them: identities, tags, link codes, merges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, UtcDateTime


class Customer(Base):
    """A person the business knows once, whatever channels they use."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    first_seen_channel: Mapped[str] = mapped_column(String(20))
    last_channel: Mapped[str | None] = mapped_column(String(20))
    last_activity_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    consent_source: Mapped[str | None] = mapped_column(String(40))
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    identities: Mapped[list[Identity]] = relationship(back_populates="customer")


class Identity(Base):
    """One address of a customer on one channel (a chat id, an email address)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    unreachable_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Transient bounces (4.x.x) in a row; reset when the customer writes from this address.

    See rapport.crm.interactions.bounces.
    """

    customer: Mapped[Customer] = relationship(back_populates="identities")


class CustomerTag(Base):
    """A label staff or imports put on a customer ("vip", "corporate")."""

    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(60), primary_key=True, index=True)


class LinkCode(Base):
    """A one-time code that links a chat to a customer known by email.

    See rapport.crm.customers.linking.

    Only a salted hash of the code is kept. `target_customer_id` is null when
    the address given was unknown (or rate-limited): the row still counts
    against the requester's limits, so the answer cannot tell the two apart.
    """

    __tablename__ = "link_codes"
    __table_args__ = (Index("ix_link_codes_customer_created", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    """Who asked (the chat's customer); after the link, the customer it became."""
    target_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CustomerMerge(Base):
    """A customer that was merged into another: the absorbed id is gone, this says where to.

    No foreign key on `absorbed_id`: that row no longer exists. Chains are
    kept flat (a later merge of the kept customer re-points these rows), so
    one lookup finds where an old id (in an unsubscribe link, a note) lives now.
    """

    __tablename__ = "customer_merges"

    absorbed_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kept_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
