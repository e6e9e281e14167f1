"""Marketing consent: what a customer agreed to receive, with when and how.

Service messages (answers to what the customer wrote) need no marketing
consent; campaigns (loyalty, announcements) do, and check it in SQL when
they pick recipients. An opt-out is always honoured at once.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from crm.clock import utcnow
from crm.database import Database
from crm.errors import NotFound
from crm.identity import normalise_external_id
from crm.models import Customer, Identity

log = logging.getLogger(__name__)


def set_marketing_consent(
    db: Database, channel: str, external_id: str, *, granted: bool, source: str
) -> int:
    """Record the customer's choice; returns the customer id.

    `source` says how it was given ("telegram:/stop", "email:unsubscribe-link",
    "cli:ann") so the business can show where a consent came from.
    """
    address = normalise_external_id(channel, external_id)
    with db.transaction() as session:
        customer = session.scalar(
            select(Customer)
            .join(Identity, Identity.customer_id == Customer.id)
            .where(Identity.channel == channel, Identity.external_id == address)
        )
        if customer is None:
            raise NotFound(f"no customer with that {channel} identity")
        customer.marketing_consent = granted
        customer.consent_updated_at = utcnow()
        customer.consent_source = source[:40]
        log.info(
            "customer %d marketing consent %s via %s",
            customer.id,
            "granted" if granted else "withdrawn",
            channel,
        )
        return customer.id


def marketing_consent(db: Database, channel: str, external_id: str) -> bool | None:
    """The customer's current choice; None when no customer has that identity.

    A dialog asks this before offering an opt-in, so a customer who already
    agreed is not asked again.
    """
    address = normalise_external_id(channel, external_id)
    with db.session() as session:
        return session.scalar(
            select(Customer.marketing_consent)
            .join(Identity, Identity.customer_id == Customer.id)
            .where(Identity.channel == channel, Identity.external_id == address)
        )
