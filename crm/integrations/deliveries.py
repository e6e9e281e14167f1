"""Delivering the outbox: claim due deliveries, record each attempt's outcome, redeliver.

At-least-once: a delivery is claimed with a lease (its next attempt moved to
the lease's end and its attempt counted) in one short transaction, sent, and
then marked delivered or scheduled again with exponential back-off and
jitter. A worker that dies mid-send leaves the delivery to be retried when
the lease ends, so a receiver may see an event twice, never zero times: it
deduplicates by the event id (`X-Rapport-Event-Id`). On PostgreSQL claims
use `FOR UPDATE SKIP LOCKED`, so several processes share the queue; on
SQLite the claim is one `UPDATE … RETURNING`, atomic under its single writer.

The sending itself (HTTP) is the bot's (rapport.bot.webhook_service); the
core knows the queue, not the transport.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update

from rapport.crm.clock import utcnow
from rapport.crm.database import Database, claim_rows, rowcount
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEvent,
    WebhookSubscription,
)
from rapport.crm.staff.audit import Actor, record

PENDING = WebhookDeliveryStatus.PENDING.value
DELIVERED = WebhookDeliveryStatus.DELIVERED.value
FAILED = WebhookDeliveryStatus.FAILED.value
MAX_ERROR = 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Back-off before attempt n+1: min(cap, base·2^(n-1)) scaled by a random 50–100 %.

    The defaults retry for about a day and a half (15 attempts) before a
    delivery is marked failed; `rapport webhooks redeliver` starts it again.
    """

    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=6)
    max_attempts: int = 15
    lease: timedelta = timedelta(seconds=60)
    """How long a claimed delivery is left to its worker before another may retry it."""

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        exponential: timedelta = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        return exponential * (0.5 + rng.random() / 2)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """One claimed delivery with everything needed to send it."""

    id: int
    attempt: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    """The JSON envelope: the same bytes on every attempt."""


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    event_id: str
    event_type: str
    subscription_id: int
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


def envelope(event_id: str, event_type: str, created_at: datetime, payload: str) -> bytes:
    """The body receivers get: the event's id, type and time around its data."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created_at": created_at.isoformat(),
            "data": json.loads(payload),
        },
        separators=(",", ":"),
    ).encode()


def claim_due(
    db: Database, *, now: datetime | None = None, limit: int = 50, policy: RetryPolicy | None = None
) -> list[DueDelivery]:
    """Claim up to `limit` due deliveries for this worker (their lease starts now)."""
    now = now or utcnow()
    lease = (policy or RetryPolicy()).lease
    due = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    claim = update(WebhookDelivery).values(
        attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + lease
    )
    with db.transaction() as session:
        ids = claim_rows(session, due, claim, WebhookDelivery.id)
        if not ids:
            return []
        rows = session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.attempts,
                WebhookSubscription.url,
                WebhookSubscription.secret,
                WebhookEvent.event_id,
                WebhookEvent.type,
                WebhookEvent.created_at,
                WebhookEvent.payload,
            )
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id.in_(ids))
            .order_by(WebhookDelivery.id)
        ).all()
    return [
        DueDelivery(
            r.id,
            r.attempts,
            r.url,
            r.secret,
            r.event_id,
            r.type,
            envelope(r.event_id, r.type, r.created_at, r.payload),
        )
        for r in rows
    ]


def record_delivered(
    db: Database, delivery: DueDelivery, status: int, *, now: datetime | None = None
) -> None:
    with db.transaction() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == PENDING)
            .values(
                status=DELIVERED, delivered_at=now or utcnow(), last_status=status, last_error=None
            )
        )


def record_failure(
    db: Database,
    delivery: DueDelivery,
    status: int | None,
    error: str,
    *,
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """Schedule the next attempt (returned), or mark the delivery failed (None)."""
    now = now or utcnow()
    policy = policy or RetryPolicy()
    give_up = delivery.attempt >= policy.max_attempts
    retry_at = None if give_up else now + policy.delay(delivery.attempt, rng or random.Random())
    with db.transaction() as session:
        session.execute(
            update(WebhookDelivery)
            # a worker whose lease ran out does not overwrite the attempt after its own
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.status == PENDING,
                WebhookDelivery.attempts == delivery.attempt,
            )
            .values(
                status=FAILED if give_up else PENDING,
                next_attempt_at=retry_at or now,
                last_status=status,
                last_error=error[:MAX_ERROR],
            )
        )
    return retry_at


def next_due(db: Database) -> datetime | None:
    """When the earliest pending delivery falls due (the worker sleeps until then)."""
    with db.session() as session:
        return session.scalar(
            select(WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == PENDING)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(1)
        )


def redeliver(
    db: Database,
    actor: Actor,
    *,
    delivery_ids: Sequence[int] = (),
    event_id: str | None = None,
    all_failed: bool = False,
    now: datetime | None = None,
) -> int:
    """Queue deliveries again from their first attempt (also delivered ones); returns how many.

    By delivery id, by event id (to every subscription that had it), or every
    failed one.
    """
    if not delivery_ids and event_id is None and not all_failed:
        raise InvalidInput("say which: delivery ids, --event <event id> or --failed")
    conditions: list[ColumnElement[bool]] = []
    if delivery_ids:
        conditions.append(WebhookDelivery.id.in_(list(delivery_ids)))
    if event_id is not None:
        conditions.append(
            WebhookDelivery.event_id.in_(
                select(WebhookEvent.id).where(WebhookEvent.event_id == event_id.strip())
            )
        )
    if all_failed:
        conditions.append(WebhookDelivery.status == FAILED)
    live = select(WebhookSubscription.id).where(WebhookSubscription.active.is_(True))
    with db.transaction() as session:
        count = rowcount(
            session.execute(
                update(WebhookDelivery)
                .where(*conditions, WebhookDelivery.subscription_id.in_(live))
                .values(
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now or utcnow(),
                    delivered_at=None,
                )
            )
        )
        if count == 0:
            raise NotFound("no such webhook delivery (of an active subscription)")
        record(session, actor, "webhook.redeliver", detail=f"{count} delivery(ies)")
    return count


def list_deliveries(
    db: Database, *, status: str | None = None, limit: int = 50
) -> list[DeliveryView]:
    """Newest first; `status` one of pending, delivered, failed."""
    if status is not None and status not in (PENDING, DELIVERED, FAILED):
        raise InvalidInput("status is pending, delivered or failed")
    query = (
        select(
            WebhookDelivery.id,
            WebhookEvent.event_id,
            WebhookEvent.type,
            WebhookDelivery.subscription_id,
            WebhookSubscription.url,
            WebhookDelivery.status,
            WebhookDelivery.attempts,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.last_status,
            WebhookDelivery.last_error,
            WebhookDelivery.delivered_at,
            WebhookDelivery.created_at,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    with db.session() as session:
        return [
            DeliveryView(
                r.id,
                r.event_id,
                r.type,
                r.subscription_id,
                r.url,
                r.status,
                r.attempts,
                r.next_attempt_at,
                r.last_status,
                r.last_error,
                r.delivered_at,
                r.created_at,
            )
            for r in session.execute(query)
        ]
