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
"""

from __future__ import annotations

from dataclasses import dataclass

from rapport.channels.email.dsn import parse_report, report_type
from rapport.channels.email.parsing import parse_email
from rapport.crm.database import Database
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
    if not message.automated:
        confirm_by_reply(db, message.external_id, message.in_reply_to, message.text)
    result = ingest(db, message, max_chars=max_chars)
    if not message.automated and not result.duplicate:
        note_customer_wrote(db, message.external_id.strip().lower())
    return Stored("message", duplicate=result.duplicate, interaction_id=result.interaction_id)
