"""Building customers, segments and campaigns for campaign tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from rapport.crm.campaigns.definitions import CampaignSpec, CampaignView, create_campaign
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Customer, Identity
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.crm.segments.saved import create_segment

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_counter = iter(range(1, 10**9))


def customer(
    db: Database,
    address: str,
    *,
    channel: str = "email",
    consent: bool = True,
    name: str | None = None,
    text: str = "Hello there, I have a question",
    at: datetime = T0,
) -> int:
    """A customer who wrote to us once, with or without marketing consent."""
    result = ingest(
        db,
        InboundMessage(
            channel,
            address,
            name or address.split("@")[0].title(),
            text,
            at,
            f"seed-{next(_counter)}",
        ),
    )
    if consent:
        set_marketing_consent(db, channel, address, granted=True, source="test")
    return result.customer_id


def everyone(db: Database, name: str = "everyone") -> str:
    create_segment(db, name, {"all": []})
    return name


def campaign(db: Database, name: str = "Promo", **overrides: object) -> CampaignView:
    fields: dict[str, object] = {
        "name": name,
        "kind": "announcement",
        "segment": "everyone",
        "template": "Hi {{ first_name }}, news from {{ business }}!",
    }
    fields.update(overrides)
    return create_campaign(db, CampaignSpec(**fields))  # type: ignore[arg-type]


def erase(db: Database, customer_id: int) -> None:
    with db.transaction() as s:
        s.execute(update(Customer).where(Customer.id == customer_id).values(erased_at=T0))


def mark_unreachable(db: Database, customer_id: int) -> None:
    with db.transaction() as s:
        s.execute(
            update(Identity)
            .where(Identity.customer_id == customer_id)
            .values(unreachable_at=T0 - timedelta(days=1), unreachable_reason="test")
        )
