"""What each webhook event says: ids and facts, no message text, names or addresses.

One builder per event type, called at the event's site in the core, so
the payload shapes are documented in one place (docs/api.md lists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rapport.crm.messages import InboundMessage, IngestResult

Payload = dict[str, Any]


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def messages_received(
    pairs: Sequence[tuple[InboundMessage, IngestResult]],
) -> list[Payload]:
    """message.received: one per message newly stored (a replay is no event)."""
    return [
        {
            "interaction_id": result.interaction_id,
            "customer_id": result.customer_id,
            "conversation_id": result.conversation_id,
            "channel": message.channel,
            "sent_at": _when(message.sent_at),
            "automated": message.automated,
            "new_customer": result.new_customer,
            "polarity": result.polarity,
            "language": result.language,
        }
        for message, result in pairs
        if not result.duplicate
    ]


def conversation_created(
    conversation_id: int, customer_id: int, channel: str, opened_at: datetime
) -> Payload:
    return {
        "conversation_id": conversation_id,
        "customer_id": customer_id,
        "channel": channel,
        "opened_at": _when(opened_at),
    }


def conversation_resolved(
    conversation_id: int,
    customer_id: int,
    resolved_at: datetime,
    staff_id: int | None,
    is_complaint: bool,
) -> Payload:
    return {
        "conversation_id": conversation_id,
        "customer_id": customer_id,
        "resolved_at": _when(resolved_at),
        "staff_id": staff_id,
        "is_complaint": is_complaint,
    }


def survey_answered(
    *,
    customer_id: int | None,
    interaction_id: int,
    score: int,
    kind: str,
    delivery_id: int | None = None,
    conversation_id: int | None = None,
    has_comment: bool,
) -> Payload:
    """A campaign survey (`delivery_id`) or a complaint's CSAT question (`conversation_id`)."""
    return {
        "customer_id": customer_id,
        "interaction_id": interaction_id,
        "kind": kind,
        "score": score,
        "has_comment": has_comment,
        "delivery_id": delivery_id,
        "conversation_id": conversation_id,
    }


def consent_changed(
    customer_id: int, channel: str, granted: bool, source: str, at: datetime
) -> Payload:
    return {
        "customer_id": customer_id,
        "channel": channel,
        "purpose": "marketing",
        "granted": granted,
        "source": source,
        "at": _when(at),
    }


def customer_erased(customer_id: int, at: datetime) -> Payload:
    return {"customer_id": customer_id, "erased_at": _when(at)}
