"""The rest of a customer's record, for the console's customer page.

`rapport.crm.customers.profiles.customer_profile` is the audited read of the
profile itself (identities, recent messages); this adds what a page has room
for: the consent history with its evidence, the value row, the points
ledger and the campaign deliveries with any survey answer. It is read in
the same request as the profile and written to the audit trail by it
("customer.show"), so it records nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.models import (
    Campaign,
    ConsentEvent,
    CustomerValue,
    Delivery,
    PointsEntry,
    SurveyResponse,
)


@dataclass(frozen=True, slots=True)
class ConsentChange:
    at: datetime
    channel: str
    purpose: str
    granted: bool
    source: str
    evidence: str | None


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    campaign: str
    status: str
    skip_reason: str | None
    sent_at: datetime | None
    created_at: datetime
    score: int | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class PointsLine:
    at: datetime
    delta: int
    reason: str


@dataclass(frozen=True, slots=True)
class ValueLine:
    """The customer's value as of the last recompute: what the console shows of it."""

    orders: int
    historical_value: float
    value_tier: str
    rfm_score: int
    churn_risk: float | None
    loyalty_tier: str
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerDetails:
    consent: list[ConsentChange]
    value: ValueLine | None
    points: list[PointsLine]
    deliveries: list[DeliveryLine]


def customer_details(db: Database, customer_id: int, *, limit: int = 50) -> CustomerDetails:
    """Newest first, at most `limit` of each list."""
    with db.session() as session:
        consent = [
            ConsentChange(e.at, e.channel, e.purpose, e.granted, e.source, e.evidence)
            for e in session.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.customer_id == customer_id)
                .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())
                .limit(limit)
            )
        ]
        row = session.get(CustomerValue, customer_id)
        value = None if row is None else ValueLine(
            row.orders, row.historical_value, row.value_tier, row.rfm_score,
            row.churn_risk, row.loyalty_tier, row.computed_at,
        )  # fmt: skip
        points = [
            PointsLine(p.created_at, p.delta, p.reason)
            for p in session.scalars(
                select(PointsEntry)
                .where(PointsEntry.customer_id == customer_id)
                .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc())
                .limit(limit)
            )
        ]
        rows = session.execute(
            select(
                Campaign.name,
                Delivery.status,
                Delivery.skip_reason,
                Delivery.sent_at,
                Delivery.created_at,
                SurveyResponse.score,
                SurveyResponse.comment,
            )
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .outerjoin(SurveyResponse, SurveyResponse.delivery_id == Delivery.id)
            .where(Delivery.customer_id == customer_id)
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(limit)
        ).all()
        deliveries = [DeliveryLine(*row) for row in rows]
    return CustomerDetails(consent, value, points, deliveries)
