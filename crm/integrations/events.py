"""The webhook outbox: events written in the transaction of the change they report.

Each event site in the core calls `emit` once with its connection, so an
event exists exactly when its change committed (a rolled-back ingest leaves
no event; a replayed message, which changes nothing, emits nothing). The
same transaction adds one delivery per active subscription that wants the
type; with no such subscription nothing is written at all, so the outbox
costs the ingest hot path one small indexed read.

Payloads carry ids and facts (channel, granted, score), never message
text, names or addresses: a receiver that needs those asks the API, where
the read is authorised and audited like a staff member's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select

from rapport.crm.clock import utcnow
from rapport.crm.models import (
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEvent,
    WebhookSubscription,
)


class EventType(StrEnum):
    MESSAGE_RECEIVED = "message.received"
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_RESOLVED = "conversation.resolved"
    SURVEY_ANSWERED = "survey.answered"
    CONSENT_CHANGED = "consent.changed"
    CUSTOMER_ERASED = "customer.erased"


ALL_TYPES = "*"


def wants(event_types: str, event_type: str) -> bool:
    """Whether a subscription's space-separated types (or "*") include `event_type`."""
    chosen = event_types.split()
    return ALL_TYPES in chosen or event_type in chosen


def emit(
    conn: Connection,
    event_type: EventType,
    payloads: Sequence[Mapping[str, Any]],
    *,
    now: datetime | None = None,
) -> int:
    """Record one event per payload for every subscriber of the type; returns events written.

    Runs inside the caller's transaction. Payload values must be JSON types
    (ids, strings, numbers, booleans, None).
    """
    if not payloads:
        return 0
    subscribers = [
        row.id
        for row in conn.execute(
            select(WebhookSubscription.id, WebhookSubscription.event_types).where(
                WebhookSubscription.active.is_(True)
            )
        )
        if wants(row.event_types, event_type)
    ]
    if not subscribers:
        return 0
    now = now or utcnow()
    event_ids = (
        conn.execute(
            insert(WebhookEvent).returning(WebhookEvent.id, sort_by_parameter_order=True),
            [
                {
                    "event_id": str(uuid.uuid4()),
                    "type": event_type.value,
                    "payload": json.dumps(dict(payload), separators=(",", ":"), sort_keys=True),
                    "created_at": now,
                }
                for payload in payloads
            ],
        )
        .scalars()
        .all()
    )
    conn.execute(
        insert(WebhookDelivery),
        [
            {
                "event_id": event_id,
                "subscription_id": subscription_id,
                "status": WebhookDeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event_id in event_ids
            for subscription_id in subscribers
        ],
    )
    return len(event_ids)
