"""Ingest: every inbound message enters the CRM here, in one transaction.

Flow 1 of DESIGN.md: resolve or create the customer and identity, store the
interaction with its sentiment, attach it to the open conversation, update
last activity, commit. A channel acknowledges a message only after this
returned, and a replay of the same (channel, message_key) stores nothing.

Batches are the normal unit (Telegram's getUpdates hands out up to 100
updates); a single message is a batch of one, so there is one code path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.database import Database
from crm.errors import InvalidMessage
from crm.identity import clean_display_name, normalise_external_id
from crm.messages import InboundMessage, IngestResult
from crm.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Identity,
    Interaction,
)
from crm.sentiment import Assessment, SentimentAnalyser, default_analyser

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 100_000
MAX_KEY = 300
MAX_SUBJECT = 500
_RETRIES_ON_RACE = 3
_KEY_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class _Checked:
    """A message that passed validation, with everything computed outside the transaction."""

    message: InboundMessage
    external_id: str
    sender: str | None
    subject: str | None
    assessment: Assessment

    @property
    def key(self) -> tuple[str, str]:
        return (self.message.channel, self.message.message_key)


def check(
    message: InboundMessage,
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> _Checked:
    """Validate one message and score it; raise InvalidMessage, store nothing."""
    external_id = normalise_external_id(message.channel, message.external_id)
    key = message.message_key
    if not key or len(key) > MAX_KEY or _KEY_FORBIDDEN.search(key):
        raise InvalidMessage(f"message key must be 1–{MAX_KEY} printable characters")
    text = message.text
    if "\x00" in text:
        raise InvalidMessage("message text contains NUL characters")
    if len(text) > max_chars:
        raise InvalidMessage(
            f"message text is {len(text):,} characters; the limit is {max_chars:,}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage("message text is not valid Unicode (lone surrogates)") from None
    if not text.strip() and not message.attachments:
        raise InvalidMessage("message has no text")
    if message.sent_at.tzinfo is None:
        raise InvalidMessage("message time has no time zone")
    subject = clean_display_name(message.subject)
    return _Checked(
        message=message,
        external_id=external_id,
        sender=clean_display_name(message.sender),
        subject=subject[:MAX_SUBJECT] if subject else None,
        assessment=analyser.assess(text),
    )


def ingest(
    db: Database,
    message: InboundMessage,
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> IngestResult:
    """Store one inbound message; on a replay return the stored result, `duplicate=True`."""
    return ingest_batch(db, [message], analyser=analyser, max_chars=max_chars)[0]


def ingest_batch(
    db: Database,
    messages: Sequence[InboundMessage],
    *,
    analyser: SentimentAnalyser = default_analyser,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[IngestResult]:
    """Store several messages in one transaction, results in the same order.

    Every message is validated before the database is touched, so one bad
    message refuses the whole batch and nothing is stored; adapters that want
    to skip bad messages call `check` on each first.
    """
    checked = [check(m, analyser=analyser, max_chars=max_chars) for m in messages]
    if not checked:
        return []
    for attempt in range(_RETRIES_ON_RACE):
        try:
            with db.transaction() as session:
                results = _store(session, checked)
            break
        except IntegrityError:
            # Another process stored the same identity or message key between
            # our lookups and our insert; the retry finds its rows.
            if attempt == _RETRIES_ON_RACE - 1:
                raise
            log.info("ingest race on a unique key, retrying (attempt %d)", attempt + 2)
    for result in results:
        if not result.duplicate:
            log.info(
                "ingested interaction %d for customer %d%s",
                result.interaction_id,
                result.customer_id,
                " (new customer)" if result.new_customer else "",
            )
    return results


def _store(session: Session, checked: list[_Checked]) -> list[IngestResult]:
    stored = _existing_interactions(session, checked)
    identities = _existing_identities(session, checked)
    fresh = _first_occurrences(checked, stored)

    new_customer_ids: set[int] = set()
    pending_identities: dict[tuple[str, str], Identity] = {}
    for item in fresh:
        id_key = (item.message.channel, item.external_id)
        if id_key in identities or id_key in pending_identities:
            continue
        customer = Customer(
            display_name=item.sender,
            first_seen_channel=item.message.channel,
            created_at=item.message.sent_at,
        )
        identity = Identity(
            customer=customer,
            channel=item.message.channel,
            external_id=item.external_id,
            display_name=item.sender,
            created_at=item.message.sent_at,
        )
        session.add_all([customer, identity])
        pending_identities[id_key] = identity
    if pending_identities:
        session.flush()
        new_customer_ids = {i.customer_id for i in pending_identities.values()}
        identities.update(pending_identities)

    customer_ids = {identities[(i.message.channel, i.external_id)].customer_id for i in fresh}
    customers = _customers(session, customer_ids)
    conversations = _open_conversations(session, customer_ids)

    interactions: dict[tuple[str, str], Interaction] = {}
    for item in fresh:
        identity = identities[(item.message.channel, item.external_id)]
        customer = customers[identity.customer_id]
        conversation = None if item.message.automated else conversations.get(customer.id)
        if conversation is None and not item.message.automated:
            conversation = Conversation(
                customer_id=customer.id,
                channel=item.message.channel,
                opened_at=item.message.sent_at,
                last_message_at=item.message.sent_at,
            )
            session.add(conversation)
            conversations[customer.id] = conversation
        interaction = Interaction(
            customer_id=customer.id,
            conversation=conversation,
            channel=item.message.channel,
            direction=Direction.IN,
            body=item.message.text,
            subject=item.subject,
            language=item.assessment.language,
            polarity=item.assessment.polarity,
            subjectivity=item.assessment.subjectivity,
            automated=item.message.automated,
            message_key=item.message.message_key,
            in_reply_to=item.message.in_reply_to,
            sent_at=item.message.sent_at,
        )
        session.add(interaction)
        interactions[item.key] = interaction
        if not item.message.automated:
            _touch(customer, identity, conversation, item)
    session.flush()

    results: list[IngestResult] = []
    announced: set[int] = set()
    for item in checked:
        if item.key in stored:
            results.append(stored[item.key])
            continue
        row = interactions[item.key]
        first_time = row.id not in announced
        announced.add(row.id)
        is_new = first_time and row.customer_id in new_customer_ids
        if is_new:
            new_customer_ids.discard(row.customer_id)
        results.append(_result(row, new_customer=is_new, duplicate=not first_time))
    return results


def _result(row: Interaction, *, new_customer: bool, duplicate: bool) -> IngestResult:
    return IngestResult(
        customer_id=row.customer_id,
        interaction_id=row.id,
        conversation_id=row.conversation_id,
        new_customer=new_customer,
        duplicate=duplicate,
        polarity=row.polarity,
        subjectivity=row.subjectivity,
        language=row.language,
    )


def _touch(
    customer: Customer, identity: Identity, conversation: Conversation | None, item: _Checked
) -> None:
    """Bring activity fields forward to this message (never backward on late arrivals)."""
    sent_at: datetime = item.message.sent_at
    if customer.last_activity_at is None or sent_at >= customer.last_activity_at:
        customer.last_activity_at = sent_at
        customer.last_channel = item.message.channel
    if item.sender:
        if customer.display_name is None:
            customer.display_name = item.sender
        identity.display_name = item.sender
    if conversation is not None:
        if conversation.last_message_at is None or sent_at > conversation.last_message_at:
            conversation.last_message_at = sent_at
        conversation.status = ConversationStatus.OPEN


def _first_occurrences(
    checked: list[_Checked], stored: dict[tuple[str, str], IngestResult]
) -> list[_Checked]:
    seen: set[tuple[str, str]] = set(stored)
    fresh: list[_Checked] = []
    for item in checked:
        if item.key not in seen:
            seen.add(item.key)
            fresh.append(item)
    return fresh


def _by_channel(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for channel, value in pairs:
        grouped.setdefault(channel, []).append(value)
    return grouped


def _existing_interactions(
    session: Session, checked: list[_Checked]
) -> dict[tuple[str, str], IngestResult]:
    found: dict[tuple[str, str], IngestResult] = {}
    for channel, keys in _by_channel([c.key for c in checked]).items():
        rows = session.execute(
            select(Interaction).where(
                Interaction.channel == channel, Interaction.message_key.in_(set(keys))
            )
        ).scalars()
        for row in rows:
            found[(channel, row.message_key or "")] = _result(
                row, new_customer=False, duplicate=True
            )
    return found


def _existing_identities(
    session: Session, checked: list[_Checked]
) -> dict[tuple[str, str], Identity]:
    found: dict[tuple[str, str], Identity] = {}
    pairs = [(c.message.channel, c.external_id) for c in checked]
    for channel, ids in _by_channel(pairs).items():
        rows = session.execute(
            select(Identity).where(Identity.channel == channel, Identity.external_id.in_(set(ids)))
        ).scalars()
        for row in rows:
            found[(channel, row.external_id)] = row
    return found


def _customers(session: Session, ids: set[int]) -> dict[int, Customer]:
    rows = session.execute(select(Customer).where(Customer.id.in_(ids))).scalars()
    return {c.id: c for c in rows}


def _open_conversations(session: Session, customer_ids: set[int]) -> dict[int, Conversation]:
    """The newest unresolved conversation of each customer, across channels."""
    rows = session.execute(
        select(Conversation)
        .where(
            Conversation.customer_id.in_(customer_ids),
            Conversation.status != ConversationStatus.RESOLVED,
        )
        .order_by(Conversation.id)
    ).scalars()
    return {c.customer_id: c for c in rows}
