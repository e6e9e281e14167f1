"""The ORM model of the CRM core (first cut of DESIGN.md § Core model).

Tables are created and changed only by the Alembic migrations in
`migrations/`; `tests/test_migrations.py` checks the two agree.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from rapport.crm.clock import as_utc, utcnow

# Integer on SQLite (so it is the rowid alias and autoincrements), BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps go in and come out timezone-aware in UTC on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ConversationStatus(StrEnum):
    OPEN = "open"
    WAITING = "waiting"
    RESOLVED = "resolved"


class StaffRole(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


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


class Conversation(Base):
    """A thread of contact with a customer, from first message to resolution."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_customer_status", "customer_id", "status"),)

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

    See rapport.crm.desk.conversations.
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

    See rapport.crm.interactions.ingest.
    """
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The message time of the latest reopen; kept after the next resolution, for reporting."""


SENTIMENT_INDEX_WHERE = {
    "sqlite": "direction = 'in' AND automated IS 0 AND polarity IS NOT NULL",
    "postgresql": "direction = 'in' AND automated IS false AND polarity IS NOT NULL",
}
"""Rows of `ix_interactions_sentiment`: what customers wrote, scored, the sentiment report's rows.

Partial, so outbound messages cost it nothing; written as each database
spells the report's own conditions (rapport.crm.reports.programmes.sentiment_by_day), which is
how the planner recognises it can use the index.
"""


class Interaction(Base):
    """One message in or out, with its sentiment; the customer's history."""

    __tablename__ = "interactions"
    __table_args__ = (
        UniqueConstraint("channel", "message_key"),
        Index("ix_interactions_customer_sent", "customer_id", "sent_at"),
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
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
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
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    conversation: Mapped[Conversation | None] = relationship()


class StaffMember(Base):
    """Someone who works the bot; the role decides what they may see and do."""

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEvent(Base):
    """Who read or changed personal data, and when; append-only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    detail: Mapped[str | None] = mapped_column(Text)


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


class CustomerTag(Base):
    """A label staff or imports put on a customer ("vip", "corporate")."""

    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(60), primary_key=True, index=True)


class Segment(Base):
    """A named, saved rule over customer fields; evaluated in SQL when used."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    """The rule as JSON (see rapport.crm.segments.rules); stored as text so both databases agree."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


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
        Index("ix_deliveries_due", "status", "next_attempt_at"),
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


class PointsEntry(Base):
    """Append-only loyalty ledger; a balance is the sum of a customer's entries."""

    __tablename__ = "points_entries"
    # Covering: balances and the value recompute's points earned read the index alone.
    __table_args__ = (
        Index("ix_points_entries_customer_created_delta", "customer_id", "created_at", "delta"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(80))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), unique=True)
    order_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("orders.id"), unique=True)
    """The order these points were earned on; unique, so an order earns once."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


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


class Order(Base):
    """A purchase from the business's own systems; the order key makes an import idempotent.

    Amounts are whole minor units (cents) so sums are exact on every database.
    """

    __tablename__ = "orders"
    # Covering: the value recompute's per-customer aggregate reads the index alone.
    __table_args__ = (
        Index("ix_orders_customer_ordered_amount", "customer_id", "ordered_at", "amount_minor"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    order_key: Mapped[str] = mapped_column(String(120), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    ordered_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    source: Mapped[str] = mapped_column(String(40))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CustomerValue(Base):
    """One customer's derived value as of the last recompute, for segments.

    See rapport.crm.value.scores.
    """

    __tablename__ = "customer_values"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer)
    first_order_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_order_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    historical_value: Mapped[float] = mapped_column(Float)
    predicted_value: Mapped[float] = mapped_column(Float)
    recency_score: Mapped[int] = mapped_column(Integer)
    frequency_score: Mapped[int] = mapped_column(Integer)
    monetary_score: Mapped[int] = mapped_column(Integer)
    rfm_score: Mapped[int] = mapped_column(Integer)
    value_tier: Mapped[str] = mapped_column(String(10), index=True)
    interval_days: Mapped[float | None] = mapped_column(Float)
    churn_risk: Mapped[float | None] = mapped_column(Float)
    engagement: Mapped[float] = mapped_column(Float)
    loyalty_tier: Mapped[str] = mapped_column(String(20))
    previous_tier: Mapped[str | None] = mapped_column(String(20))
    tier_change: Mapped[str | None] = mapped_column(String(4))
    tier_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)


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


# Tables of email outreach (double opt-in, bounce and complaint reports, signing keys).
from rapport.crm.models.outreach import AppSecret, MailReport, OptInRequest  # noqa: E402, F401
