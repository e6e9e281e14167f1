"""Messages that cross the boundary between channels and the core.

They are plain frozen dataclasses so adapters can build them without touching
the database and tests can compare them by value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message: recorded by name and size, never stored."""

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a customer, as a channel hands it to `ingest`.

    `message_key` is the channel's own stable id for this message (Telegram
    update/message id, email Message-ID); a second message with the same key
    on the same channel is a replay and stores nothing new.
    `external_id` is the sender's address on that channel (chat id, email).
    """

    channel: str
    external_id: str
    sender: str | None
    text: str
    sent_at: datetime
    message_key: str
    subject: str | None = None
    in_reply_to: str | None = None
    automated: bool = False
    attachments: tuple[Attachment, ...] = ()
    button: bool = False
    """A tapped button's answer (a survey score): it answers the message the button sits
    under and is kept in the history, but opens no conversation and is not shown to
    staff as if the customer had written it."""
    claimed_sent_at: str | None = None
    """The sender's own date when the channel did not believe it (out of a sane window
    around receipt; `sent_at` is then the receipt time): kept for staff, never used."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What `ingest` did with one message; the same value again on a replay."""

    customer_id: int
    interaction_id: int
    conversation_id: int | None
    new_customer: bool
    duplicate: bool
    polarity: float | None
    subjectivity: float | None
    language: str | None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message the core asks a channel to deliver to one identity."""

    text: str
    subject: str | None = None
    html: str | None = None
    reply_to_key: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    """Buttons as (label, data) pairs, e.g. a CSAT scale; channels without
    buttons render them as a numbered list to answer by text."""
    headers: dict[str, str] = field(default_factory=dict)
    unsubscribe_url: str | None = None
    """The one-click opt-out link of this message (email shows it and sends List-Unsubscribe)."""
    marketing: bool = False
    """A campaign message: email refuses to send one without an unsubscribe link."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The channel's proof that it handed a message over."""

    channel: str
    message_key: str
    sent_at: datetime
