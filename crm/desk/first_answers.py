"""Automatic first answers: a greeting or FAQ answer for a new conversation.

`DeskRules.first_answer` chooses the text; the answer is claimed before it is
sent, so it goes out at most once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.database import Database
from rapport.crm.desk.conversations import lock_conversation
from rapport.crm.desk.outgoing import Outgoing, outgoing_for
from rapport.crm.desk.rules import DeskRules
from rapport.crm.errors import NotFound
from rapport.crm.messages import OutboundMessage, Receipt
from rapport.crm.models import Conversation, ConversationStatus, CustomerTag, Direction, Interaction

log = logging.getLogger(__name__)

FIRST_ANSWER_WINDOW = timedelta(hours=1)
"""A conversation older than this when the desk round sees it gets no automatic answer."""


@dataclass(frozen=True, slots=True)
class FirstAnswer:
    out: Outgoing
    kind: str
    text: str


def claim_first_answer(
    db: Database, rules: DeskRules, conversation_id: int, now: datetime
) -> FirstAnswer | None:
    """The automatic first answer this conversation is owed, claimed so it goes out once.

    None when it was answered (by a person or automatically) already, or no
    answer is configured for the case. The claim is taken before sending: a
    crash between claim and send loses an automatic greeting, never doubles it.
    """
    with db.transaction() as session:
        conversation = lock_conversation(session, conversation_id)
        if (
            conversation.auto_answered_at is not None
            or conversation.first_response_at is not None
            or conversation.status != ConversationStatus.OPEN
        ):
            return None
        tags = set(
            session.scalars(
                select(CustomerTag.tag).where(CustomerTag.customer_id == conversation.customer_id)
            )
        )
        said = session.scalar(
            select(Interaction.body)
            .where(
                Interaction.conversation_id == conversation_id,
                Interaction.direction == Direction.IN.value,
            )
            .order_by(Interaction.sent_at, Interaction.id)
            .limit(1)
        )
        chosen = rules.first_answer(tags, said or "", now)
        if chosen is None:
            return None
        try:
            out = outgoing_for(session, conversation)
        except NotFound:
            return None
        conversation.auto_answered_at = now
        return FirstAnswer(out, chosen[0], chosen[1])


def record_first_answer(db: Database, answer: FirstAnswer, receipt: Receipt) -> None:
    """Store it as automated (never a first response); an FAQ answer waits on the customer."""
    with db.transaction() as session:
        session.add(
            Interaction(
                customer_id=answer.out.customer_id,
                conversation_id=answer.out.conversation_id,
                channel=answer.out.channel,
                direction=Direction.OUT,
                body=answer.text,
                subject=answer.out.subject,
                automated=True,
                message_key=receipt.message_key,
                in_reply_to=answer.out.reply_to_key,
                sent_at=receipt.sent_at,
            )
        )
        if answer.kind == "faq":
            session.execute(
                update(Conversation)
                .where(
                    Conversation.id == answer.out.conversation_id,
                    Conversation.status == ConversationStatus.OPEN.value,
                    Conversation.first_response_at.is_(None),
                )
                .values(status=ConversationStatus.WAITING.value)
            )


async def send_first_answer(
    db: Database,
    rules: DeskRules,
    channels: Mapping[str, Channel],
    conversation_id: int,
    now: datetime,
) -> FirstAnswer | None:
    """Send the automatic first answer if one is owed and its channel is running."""
    answer = await asyncio.to_thread(claim_first_answer, db, rules, conversation_id, now)
    if answer is None:
        return None
    channel = channels.get(answer.out.channel)
    if channel is None:
        return None
    message = OutboundMessage(
        text=answer.text, subject=answer.out.subject, reply_to_key=answer.out.reply_to_key
    )
    try:
        receipt = await channel.send(answer.out.external_id, message)
    except DeliveryFailure as exc:
        log.info("automatic first answer to conversation %d not sent: %s", conversation_id, exc)
        return None
    await asyncio.to_thread(record_first_answer, db, answer, receipt)
    return answer


def awaiting_first_answer(db: Database, channels: Sequence[str], now: datetime) -> list[int]:
    """Recent open conversations on these channels that no answer reached yet."""
    with db.session() as session:
        return list(
            session.scalars(
                select(Conversation.id)
                .where(
                    Conversation.status == ConversationStatus.OPEN.value,
                    Conversation.auto_answered_at.is_(None),
                    Conversation.first_response_at.is_(None),
                    Conversation.channel.in_(channels),
                    Conversation.opened_at >= now - FIRST_ANSWER_WINDOW,
                )
                .order_by(Conversation.id)
            )
        )
