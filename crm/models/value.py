"""Customer value: orders, the loyalty points ledger, the derived value row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.crm.clock import utcnow
from rapport.crm.models.base import Base, BigId, UtcDateTime


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
