"""Webhook subscriptions: a receiver URL, the event types it wants, its signing secret.

The secret is generated (or given) when the subscription is added and shown
then; it is stored in clear because every delivery is signed with it.
Removing a subscription deletes its undelivered deliveries with it; delivered
ones stay as the record of what was sent (the subscription row is kept,
inactive, so they still name it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from rapport.crm.clock import utcnow
from rapport.crm.database import Database, rowcount
from rapport.crm.errors import InvalidInput, NotFound
from rapport.crm.integrations.events import ALL_TYPES, EventType
from rapport.crm.models import WebhookDelivery, WebhookDeliveryStatus, WebhookSubscription
from rapport.crm.staff.audit import Actor, record

MAX_URL = 2000


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    url: str
    event_types: tuple[str, ...]
    active: bool
    created_at: datetime
    secret: str | None = None
    """Only when just added: the secret to configure on the receiver."""


def parse_event_types(text: str) -> tuple[str, ...]:
    """Event types from "message.received,consent.changed" (commas or spaces) or "*"."""
    chosen = tuple(dict.fromkeys(t for t in text.replace(",", " ").split() if t))
    if not chosen:
        raise InvalidInput(f"name the event types, or * for all: {', '.join(EventType)}")
    known = {*EventType, ALL_TYPES}
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0]!r}; known: {', '.join(EventType)} (or *)"
        )
    return (ALL_TYPES,) if ALL_TYPES in chosen else chosen


def check_url(url: str) -> str:
    clean = url.strip()
    parts = urlsplit(clean)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(clean) > MAX_URL:
        raise InvalidInput("a webhook URL is http:// or https:// with a host name")
    return clean


def add_subscription(
    db: Database,
    actor: Actor,
    *,
    url: str,
    event_types: str,
    secret: str | None = None,
    now: datetime | None = None,
) -> Subscription:
    clean = check_url(url)
    types = parse_event_types(event_types)
    if secret is not None and len(secret) < 16:
        raise InvalidInput("a webhook secret has at least 16 characters")
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    with db.transaction() as session:
        row = WebhookSubscription(
            url=clean,
            secret=secret,
            event_types=" ".join(types),
            active=True,
            created_at=now or utcnow(),
        )
        session.add(row)
        session.flush()
        record(session, actor, "webhook.add", detail=f"subscription {row.id}: {' '.join(types)}")
        return Subscription(row.id, row.url, types, True, row.created_at, secret=secret)


def list_subscriptions(db: Database, *, include_removed: bool = False) -> list[Subscription]:
    query = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if not include_removed:
        query = query.where(WebhookSubscription.active.is_(True))
    with db.session() as session:
        return [
            Subscription(s.id, s.url, tuple(s.event_types.split()), s.active, s.created_at)
            for s in session.scalars(query)
        ]


def remove_subscription(db: Database, actor: Actor, subscription_id: int) -> int:
    """Stop sending to it; returns how many undelivered deliveries were dropped."""
    with db.transaction() as session:
        row = session.get(WebhookSubscription, subscription_id)
        if row is None or not row.active:
            raise NotFound(f"no webhook subscription {subscription_id}")
        row.active = False
        dropped = rowcount(
            session.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.subscription_id == subscription_id,
                    WebhookDelivery.status != WebhookDeliveryStatus.DELIVERED.value,
                )
            )
        )
        record(session, actor, "webhook.remove", detail=f"subscription {subscription_id}")
        return dropped
