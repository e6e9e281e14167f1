"""Telegram updates as the core's `InboundMessage`s, with stable message keys.

Telegram numbers messages per chat, and the bot's and the customer's
messages share one sequence, so a key names the chat and the message; the
kind of event is its prefix because an edit or a button tap refers to a
message that already has a key of its own:

- `msg:{chat_id}:{message_id}` a message (either direction)
- `edit:{chat_id}:{message_id}:{edit_date}` one edit of a customer's message
- `cb:{chat_id}:{message_id}` the answer given by tapping a button under the
  bot's message `message_id`; one per message, so a second tap is a replay
"""

from __future__ import annotations

import re

from telegram import CallbackQuery, Message, Update, User

from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import TELEGRAM
from rapport.crm.messages import Attachment, InboundMessage

_MESSAGE_KEY = re.compile(r"msg:(-?[0-9]+):([0-9]+)")


def message_key(chat_id: int, message_id: int) -> str:
    return f"msg:{chat_id}:{message_id}"


def parse_key(key: str) -> tuple[int, int] | None:
    """(chat id, message id) of a `msg:` key, None for any other key."""
    match = _MESSAGE_KEY.fullmatch(key)
    return (int(match.group(1)), int(match.group(2))) if match else None


def sender_name(user: User | None) -> str | None:
    return user.full_name if user is not None else None


def _attachments(message: Message) -> tuple[Attachment, ...]:
    """What came with a captioned message, by name and size (never the file)."""
    if message.photo:
        largest = message.photo[-1]
        return (Attachment("photo.jpg", "image/jpeg", largest.file_size or 0),)
    if message.document:
        doc = message.document
        return (
            Attachment(
                doc.file_name or "document",
                doc.mime_type or "application/octet-stream",
                doc.file_size or 0,
            ),
        )
    if message.video:
        return (Attachment("video.mp4", message.video.mime_type or "video/mp4", 0),)
    return ()


def from_message(message: Message, *, automated: bool = False) -> InboundMessage | None:
    """A new or edited customer message; None when it carries no text at all."""
    text = message.text if message.text is not None else message.caption
    if text is None:
        return None
    chat_id = message.chat.id
    if message.edit_date is not None:
        edit_stamp = int(message.edit_date.timestamp())
        key = f"edit:{chat_id}:{message.message_id}:{edit_stamp}"
        in_reply_to: str | None = message_key(chat_id, message.message_id)
        sent_at = message.edit_date
    else:
        key = message_key(chat_id, message.message_id)
        reply = message.reply_to_message
        in_reply_to = message_key(chat_id, reply.message_id) if reply else None
        sent_at = message.date
    return InboundMessage(
        channel=TELEGRAM,
        external_id=str(chat_id),
        sender=sender_name(message.from_user),
        text=text,
        sent_at=sent_at,
        message_key=key,
        in_reply_to=in_reply_to,
        automated=automated,
        attachments=_attachments(message) if message.caption is not None else (),
    )


def from_callback(query: CallbackQuery) -> InboundMessage | None:
    """A button tap as the answer to the bot message the button sits under."""
    message = query.message
    if message is None or query.data is None:
        return None
    chat_id = message.chat.id
    return InboundMessage(
        channel=TELEGRAM,
        external_id=str(chat_id),
        sender=sender_name(query.from_user),
        text=query.data,
        sent_at=utcnow(),
        message_key=f"cb:{chat_id}:{message.message_id}",
        in_reply_to=message_key(chat_id, message.message_id),
        automated=False,
    )


def from_update(update: Update) -> InboundMessage | None:
    """The one inbound message an update carries, if any."""
    if update.callback_query is not None:
        return from_callback(update.callback_query)
    message = update.message or update.edited_message
    return from_message(message) if message is not None else None
