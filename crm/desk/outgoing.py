"""Where an answer to a conversation goes: the customer's address and the thread.

Staff answers, the satisfaction question and automatic first answers all go
to the same place, so they share one lookup: the newest reachable address on
the conversation's channel, the last inbound message to answer (an email
answer carries In-Reply-To, so the customer's mail program keeps one thread)
and, for email, a "Re:" subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.crm.customers.identity import EMAIL
from rapport.crm.errors import NotFound
from rapport.crm.messages import Receipt
from rapport.crm.models import Conversation, Direction, Identity, Interaction

_RE_PREFIX = re.compile(r"^\s*(re|aw|sv|antw)\s*:\s*", re.I)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Where an answer to a conversation goes: the customer's address on its channel."""

    conversation_id: int
    customer_id: int
    channel: str
    external_id: str
    subject: str | None
    reply_to_key: str | None

    def interaction(self, body: str, receipt: Receipt, *, automated: bool) -> Interaction:
        """The outbound history row of something the channel delivered to this address."""
        return Interaction(
            customer_id=self.customer_id,
            conversation_id=self.conversation_id,
            channel=self.channel,
            direction=Direction.OUT,
            body=body,
            subject=self.subject,
            automated=automated,
            message_key=receipt.message_key,
            in_reply_to=None if automated else self.reply_to_key,
            sent_at=receipt.sent_at,
        )


def outgoing_for(session: Session, conversation: Conversation) -> Outgoing:
    """The customer's address on the conversation's channel and the thread to answer in."""
    external_id = session.scalar(
        select(Identity.external_id)
        .where(
            Identity.customer_id == conversation.customer_id,
            Identity.channel == conversation.channel,
            Identity.unreachable_at.is_(None),
        )
        .order_by(Identity.id.desc())
        .limit(1)
    )
    if external_id is None:
        raise NotFound(
            f"the customer of conversation #{conversation.id} has no reachable "
            f"{conversation.channel} address"
        )
    last_key = session.scalar(
        select(Interaction.message_key)
        .where(
            Interaction.conversation_id == conversation.id,
            Interaction.direction == Direction.IN.value,
            Interaction.channel == conversation.channel,
            Interaction.message_key.is_not(None),
        )
        .order_by(Interaction.sent_at.desc(), Interaction.id.desc())
        .limit(1)
    )
    subject = None
    if conversation.channel == EMAIL:
        first_subject = session.scalar(
            select(Interaction.subject)
            .where(Interaction.conversation_id == conversation.id, Interaction.subject.is_not(None))
            .order_by(Interaction.sent_at, Interaction.id)
            .limit(1)
        )
        subject = (
            "Re: " + _RE_PREFIX.sub("", first_subject) if first_subject else "Re: your message"
        )
    return Outgoing(
        conversation_id=conversation.id,
        customer_id=conversation.customer_id,
        channel=conversation.channel,
        external_id=external_id,
        subject=subject,
        reply_to_key=last_key,
    )
