"""`claim_rows`: the one way workers share a queue (webhook deliveries; dispatch next).

Its promises: a claim touches and returns only the rows its own WHERE still
matches, and on PostgreSQL a second worker claiming while the first holds
its batch takes other rows at once instead of waiting (SKIP LOCKED).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Select, select, update

from rapport.crm.database import Database, claim_rows
from rapport.crm.integrations.events import EventType, emit
from rapport.crm.integrations.subscriptions import add_subscription
from rapport.crm.models import WebhookDelivery
from rapport.crm.staff.audit import Actor
from tests.support.campaign_fixtures import T0

PENDING = "pending"


def _queue(db: Database, n: int) -> list[int]:
    add_subscription(db, Actor("cli:test"), url="http://127.0.0.1:9/", event_types="*")
    with db.transaction() as s:
        payloads = [{"customer_id": i} for i in range(n)]
        emit(s.connection(), EventType.CUSTOMER_ERASED, payloads, now=T0)
    with db.session() as s:
        return list(s.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)))


def _due(limit: int) -> Select[int]:
    return (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == PENDING)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )


def test_a_claim_returns_only_the_rows_its_own_condition_still_matches(db: Database) -> None:
    ids = _queue(db, 5)
    claim = (
        update(WebhookDelivery)
        .where(WebhookDelivery.attempts == 0)
        .values(attempts=WebhookDelivery.attempts + 1)
    )
    with db.transaction() as s:
        s.execute(update(WebhookDelivery).where(WebhookDelivery.id == ids[1]).values(attempts=3))
    with db.transaction() as s:
        claimed = claim_rows(s, _due(3), claim, WebhookDelivery.id)
    assert claimed == [ids[0], ids[2]]
    with db.session() as s:
        rows = s.execute(select(WebhookDelivery.id, WebhookDelivery.attempts)).all()
    attempts = {row.id: row.attempts for row in rows}
    assert attempts == {ids[0]: 1, ids[1]: 3, ids[2]: 1, ids[3]: 0, ids[4]: 0}
    with db.transaction() as s:
        assert claim_rows(s, _due(0), claim, WebhookDelivery.id) == []


def test_a_second_worker_skips_the_rows_the_first_holds(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: a second claim waits, nothing to skip")
    ids = _queue(db, 6)
    claim = update(WebhookDelivery).values(status="failed")
    with db.transaction() as first:
        held = claim_rows(first, _due(3), claim, WebhookDelivery.id)
        with db.transaction() as second:
            second.connection().exec_driver_sql("SET LOCAL lock_timeout = '2s'")  # no waiting
            taken = claim_rows(second, _due(3), claim, WebhookDelivery.id)
    assert held == ids[:3]
    assert taken == ids[3:]
