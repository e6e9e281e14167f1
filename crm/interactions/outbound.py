"""Recording what Rapport said to a customer, so history shows both sides."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from rapport.crm.customers.identity import normalise_external_id
from rapport.crm.database import Database
from rapport.crm.errors import NotFound
from rapport.crm.models import Direction, Identity, Interaction


def record_outbound(
    db: Database,
    channel: str,
    external_id: str,
    text: str,
    *,
    message_key: str,
    sent_at: datetime,
    conversation_id: int | None = None,
    automated: bool = True,
    subject: str | None = None,
) -> int:
    """Store one sent message as an outbound interaction; returns its id.

    `automated` marks replies the bot made by itself (greetings,
    acknowledgements) so they never count as a staff member's first response.
    Idempotent on (channel, message_key) like inbound messages.
    """
    address = normalise_external_id(channel, external_id)
    with db.transaction() as session:
        existing = session.scalar(
            select(Interaction.id).where(
                Interaction.channel == channel, Interaction.message_key == message_key
            )
        )
        if existing is not None:
            return existing
        customer_id = session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == channel, Identity.external_id == address
            )
        )
        if customer_id is None:
            raise NotFound(f"no customer with that {channel} identity")
        row = Interaction(
            customer_id=customer_id,
            conversation_id=conversation_id,
            channel=channel,
            direction=Direction.OUT,
            body=text,
            subject=subject,
            automated=automated,
            message_key=message_key,
            sent_at=sent_at,
        )
        session.add(row)
        session.flush()
        return row.id
