"""Campaigns, their runs and deliveries (the outbox), and survey responses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, BigId, UtcDateTime


class CampaignKind(StrEnum):
    LOYALTY = "loyalty"
    FEEDBACK = "feedback"
    ANNOUNCEMENT = "announcement"


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"
    COMPLETED = "completed"
    """A one-off campaign whose scheduled run was made: it never fires again."""


class SurveyKind(StrEnum):
    CSAT = "csat"
    NPS = "nps"


class DeliveryStatus(StrEnum):
    """queued → claimed (by a dispatcher) → sending (handed to the channel) → sent | failed;
    skipped at materialisation with a reason. Only `sending` is ambiguous after a crash."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Campaign(Base):
    """A programme run for a segment on a schedule: loyalty, feedback or announcement."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    status: Mapped[str] = mapped_column(String(10), default=CampaignStatus.ACTIVE)
    schedule_cron: Mapped[str | None] = mapped_column(String(120))
    run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    timezone: Mapped[str] = mapped_column(String(60), default="UTC")
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    channel: Mapped[str] = mapped_column(String(20), default="last_active")
    """'last_active' (the customer's most recent channel) or a channel name."""
    fallback: Mapped[bool] = mapped_column(Boolean, default=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(Text)
    survey_kind: Mapped[str | None] = mapped_column(String(10))
    points: Mapped[int | None] = mapped_column(Integer)
    offer_code: Mapped[str | None] = mapped_column(String(60))
    offer_valid_days: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CampaignRun(Base):
    """One firing of a campaign; (campaign, scheduled_for) is unique so a slot fires once.

    A slot is its planned minute and its run is repeat 0; a deliberate `run-now
    --again` is repeat 1, 2, …, named by the instant it was asked for (seconds
    and all), so it never takes a slot's place.
    """

    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    scheduled_for: Mapped[datetime] = mapped_column(UtcDateTime)
    repeat: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    materialised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")


class Delivery(Base):
    """One customer's message of one run: the outbox row dispatchers claim and send."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "customer_id"),
        Index("ix_deliveries_due", "status", "next_attempt_at", "id"),  # the claim's order
        Index("ix_deliveries_customer_created", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_runs.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id"))
    status: Mapped[str] = mapped_column(String(10))
    skip_reason: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    message_key: Mapped[str | None] = mapped_column(String(300), index=True)
    last_error: Mapped[str | None] = mapped_column(String(300))
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    wrote_back_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The customer's first message within the engagement window after sending.

    See rapport.crm.interactions.engagement.
    """
    bounced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When a delivery-status report said this mail bounced.

    See rapport.crm.interactions.bounces.
    """
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SurveyResponse(Base):
    """A customer's answer to a survey delivery; one per delivery, the first one counts."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id"))
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    polarity: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
