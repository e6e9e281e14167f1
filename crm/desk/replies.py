"""Staff answers: checked, delivered on the conversation's channel, then recorded.

A reply that cannot be delivered leaves the conversation unanswered with
`send_error` set, and the caller is told: a reply is never silently lost and
never recorded as sent when it was not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.database import Database
from rapport.crm.desk.conversations import lock_conversation
from rapport.crm.desk.outgoing import Outgoing, outgoing_for
from rapport.crm.errors import InvalidInput, NotFound, RapportError
from rapport.crm.messages import OutboundMessage, Receipt
from rapport.crm.models import Conversation, ConversationStatus
from rapport.crm.staff.audit import Actor, record

MAX_REPLY = 4000
"""Longest staff answer: one Telegram message, a readable email."""


class ReplyNotSent(RapportError):
    """The channel refused or could not take the answer; the conversation says so."""


def clean_reply(text: str) -> str:
    """The answer as it will be sent, or InvalidInput saying what is wrong with it."""
    value = (text or "").strip()
    if not value:
        raise InvalidInput("the answer is empty")
    if "\x00" in value:
        raise InvalidInput("the answer contains NUL characters")
    if len(value) > MAX_REPLY:
        raise InvalidInput(f"the answer is {len(value):,} characters; the limit is {MAX_REPLY:,}")
    return value


def prepare_reply(db: Database, conversation_id: int) -> Outgoing:
    with db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            raise NotFound(f"no conversation #{conversation_id}")
        if conversation.status == ConversationStatus.RESOLVED:
            raise InvalidInput(
                f"conversation #{conversation_id} is resolved; "
                "a customer message within the reopen window reopens it"
            )
        return outgoing_for(session, conversation)


def record_reply(db: Database, actor: Actor, out: Outgoing, text: str, receipt: Receipt) -> int:
    """Store a delivered staff answer; the first one sets the first response time."""
    with db.transaction() as session:
        conversation = lock_conversation(session, out.conversation_id)
        row = out.interaction(text, receipt, automated=False)
        session.add(row)
        if conversation.first_response_at is None:
            conversation.first_response_at = receipt.sent_at
        if conversation.status != ConversationStatus.RESOLVED:
            conversation.status = ConversationStatus.WAITING
        if conversation.assigned_staff_id is None:
            conversation.assigned_staff_id = actor.staff_id
        conversation.send_error = None
        record(
            session,
            actor,
            "conversation.reply",
            customer_id=out.customer_id,
            detail=f"conversation {out.conversation_id}",
        )
        session.flush()
        return row.id


def record_send_failure(db: Database, conversation_id: int, error: str) -> None:
    with db.transaction() as session:
        lock_conversation(session, conversation_id).send_error = error[:300]


async def send_reply(
    db: Database,
    actor: Actor,
    channels: Mapping[str, Channel],
    conversation_id: int,
    text: str,
) -> Receipt:
    """Deliver a staff answer on the conversation's channel, then record it."""
    body = clean_reply(text)
    out = await asyncio.to_thread(prepare_reply, db, conversation_id)
    channel = channels.get(out.channel)
    if channel is None:
        error = f"no {out.channel} sender is running"
        await asyncio.to_thread(record_send_failure, db, conversation_id, error)
        raise ReplyNotSent(f"the answer to conversation #{conversation_id} was not sent: {error}")
    message = OutboundMessage(text=body, subject=out.subject, reply_to_key=out.reply_to_key)
    try:
        receipt = await channel.send(out.external_id, message)
    except DeliveryFailure as exc:
        await asyncio.to_thread(record_send_failure, db, conversation_id, str(exc))
        raise ReplyNotSent(
            f"the answer to conversation #{conversation_id} was not delivered: {exc}"
        ) from exc
    await asyncio.to_thread(record_reply, db, actor, out, body, receipt)
    return receipt
