"""Marketing consent changes and outbound history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from rapport.crm.database import Database
from rapport.crm.errors import NotFound
from rapport.crm.interactions.ingest import ingest
from rapport.crm.interactions.outbound import record_outbound
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Customer, Interaction
from rapport.crm.privacy.consent import set_marketing_consent

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _customer(db: Database) -> int:
    message = InboundMessage("telegram", "777", "Tom", "hi there", T0, "u1")
    return ingest(db, message).customer_id


def test_opt_in_then_out_is_recorded_with_source(db: Database) -> None:
    customer_id = _customer(db)
    set_marketing_consent(db, "telegram", "777", granted=True, source="telegram:/start")
    set_marketing_consent(db, "telegram", "777", granted=False, source="telegram:/stop")
    with db.session() as s:
        customer = s.get(Customer, customer_id)
        assert customer is not None
        assert customer.marketing_consent is False
        assert customer.consent_source == "telegram:/stop"
        assert customer.consent_updated_at is not None


def test_consent_for_unknown_identity_changes_nothing(db: Database) -> None:
    _customer(db)
    with pytest.raises(NotFound):
        set_marketing_consent(db, "telegram", "999", granted=True, source="x")


def test_outbound_is_recorded_once(db: Database) -> None:
    customer_id = _customer(db)
    first = record_outbound(db, "telegram", "777", "Welcome!", message_key="out-1", sent_at=T0)
    again = record_outbound(db, "telegram", "777", "Welcome!", message_key="out-1", sent_at=T0)
    assert first == again
    with db.session() as s:
        rows = s.scalars(select(Interaction).where(Interaction.direction == "out")).all()
    assert [(r.customer_id, r.body, r.automated) for r in rows] == [(customer_id, "Welcome!", True)]
