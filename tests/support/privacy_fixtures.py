"""Customers with identities on both channels, for consent and privacy tests."""

from __future__ import annotations

from sqlalchemy import insert

from rapport.crm.database import Database
from rapport.crm.models import Identity
from tests.support.campaign_fixtures import T0, customer


def two_channel_customer(db: Database, n: int, *, text: str = "Hello, a question") -> int:
    """A customer who wrote by email and whose Telegram chat is known too; no consent yet."""
    cid = customer(db, f"p{n}@example.com", consent=False, text=text)
    with db.transaction() as s:
        s.execute(
            insert(Identity).values(
                customer_id=cid, channel="telegram", external_id=str(70_000 + n), created_at=T0
            )
        )
    return cid
