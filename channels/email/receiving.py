"""Where one inbound mail goes: a report, an automated mail, or a customer's message.

Both inbound paths (our SMTP server and IMAP polling) hand every mail here,
so they treat the same bytes the same way:

- a bounce or complaint (`multipart/report`) becomes a mail report
  (rapport.crm.interactions.bounces): never a customer, never a message;
- other automated mail (auto-replies, RFC 3834; a null sender; bulk) is
  stored as an automated message of the customer who has the address, and
  as a mail report (attached to whoever it answers, or unmatched) when
  nobody does, so a stranger's vacation notice creates no customer;
- anything else is a customer's message: a reply "YES" to a double opt-in
  confirmation confirms it first (rapport.crm.privacy.opt_in), then it is
  ingested, and the address's temporary bounces start over.

A replay is recognised per (sender, Message-ID): a Message-ID is the
sender's word, so a mail reusing one already stored for someone else is no
replay of it. It is stored under a key scoped to its own sender
(`sender_scoped_key`), and a stranger cannot suppress a customer's mail by
sending first or after with the customer's Message-ID.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from rapport.channels.email.dsn import parse_report, report_type
from rapport.channels.email.parsing import parse_email
from rapport.crm.customers.identity import EMAIL, normalise_email
from rapport.crm.database import Database
from rapport.crm.errors import InvalidMessage
from rapport.crm.interactions.bounces import (
    AUTO_REPLY,
    DEFAULT_SOFT_BOUNCE_LIMIT,
    MailReport,
    note_customer_wrote,
    record_report,
    sender_known,
)
from rapport.crm.interactions.checking import DEFAULT_MAX_CHARS
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Identity, Interaction
from rapport.crm.privacy.opt_in import confirm_by_reply


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of a mail: `message` (ingested), `report` (a bounce, complaint or stranger's
    auto-reply); `duplicate` when it had been stored before."""

    kind: str
    duplicate: bool
    interaction_id: int | None = None


def store_mail(
    db: Database,
    raw: bytes,
    *,
    envelope_sender: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    soft_bounce_limit: int = DEFAULT_SOFT_BOUNCE_LIMIT,
) -> Stored:
    """Store one mail; InvalidMessage (nothing stored) when it cannot be read."""
    if report_type(raw) is not None:
        done = record_report(db, parse_report(raw), soft_bounce_limit=soft_bounce_limit)
        return Stored("report", duplicate=not done)
    message = parse_email(raw, envelope_sender=envelope_sender)
    if message.automated and not sender_known(db, message.external_id):
        report = MailReport(
            kind=AUTO_REPLY,
            message_key=message.message_key,
            received_at=message.sent_at,
            original_message_id=message.in_reply_to,
        )
        done = record_report(db, report, soft_bounce_limit=soft_bounce_limit)
        return Stored("report", duplicate=not done)
    message = sender_scoped_key(db, message)
    if not message.automated:
        confirm_by_reply(db, message.external_id, message.in_reply_to, message.text)
    result = ingest(db, message, max_chars=max_chars)
    if not message.automated and not result.duplicate:
        note_customer_wrote(db, message.external_id.strip().lower())
    return Stored("message", duplicate=result.duplicate, interaction_id=result.interaction_id)


def sender_scoped_key(db: Database, message: InboundMessage) -> InboundMessage:
    """The message, re-keyed when its Message-ID is stored already for another sender.

    The scoped key is `<s-<hash of the sender>.<the Message-ID's inside>>`: the
    same for a replay of this sender's mail (so that stays a no-op), never
    the same as anyone else's. The first mail to use a Message-ID keeps it as
    is, so replies to it thread as usual.
    """
    try:
        sender = normalise_email(message.external_id)
    except InvalidMessage:
        return message  # ingest refuses it with the reason
    with db.session() as session:
        owner = session.scalar(
            select(Interaction.customer_id)
            .where(Interaction.channel == EMAIL, Interaction.message_key == message.message_key)
            .limit(1)
        )
        if owner is None:
            return message
        same = session.scalar(
            select(Identity.id)
            .where(
                Identity.customer_id == owner,
                Identity.channel == EMAIL,
                Identity.external_id == sender,
            )
            .limit(1)
        )
    if same is not None:
        return message  # the sender's own mail again: a replay
    digest = hashlib.sha256(f"{EMAIL}:{sender}".encode()).hexdigest()[:16]
    scoped = f"<s-{digest}.{message.message_key.strip('<>')}"[:299] + ">"
    return dataclasses.replace(message, message_key=scoped)
