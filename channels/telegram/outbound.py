"""Sending to Telegram: the core's `Channel` protocol over a PTB `Bot`.

Text goes out plain (no parse mode) so nothing a customer or a template
wrote can break formatting; an `OutboundMessage.html` body is sent with
parse mode HTML and is the caller's own markup (build it with `html_escape`
around every value). Long texts are split on paragraph, line or word
boundaries, never cut. PTB's errors are mapped onto the core's three
failures so the dispatcher can decide without knowing Telegram.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from rapport.channels.telegram.inbound import message_key, parse_key
from rapport.channels.telegram.ratelimit import BULK, retry_seconds
from rapport.crm.channel import PermanentFailure, RecipientGone, TransientFailure
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import TELEGRAM
from rapport.crm.messages import OutboundMessage, Receipt

log = logging.getLogger(__name__)

MAX_TEXT = 4096
BUTTONS_PER_ROW = 6
SHORT_LABEL = 3
"""Labels up to this long ("10", "Yes") share a row; longer ones get their own."""


def html_escape(value: str) -> str:
    """Escape a value for Telegram's HTML parse mode (only <, > and & matter)."""
    return html.escape(value, quote=False)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` characters, broken at the widest boundary that fits.

    Paragraphs first, then lines, then words; a single word longer than the
    limit (a URL, a hash) is the only thing ever broken mid-way. Nothing but
    the whitespace at the breaks is dropped.
    """
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for pattern in ("\n\n", "\n", " "):
            cut = window.rfind(pattern, 0, limit + 1)
            if cut > 0:
                parts.append(rest[:cut])
                rest = rest[cut + len(pattern) :]
                break
        if cut <= 0:
            parts.append(rest[:limit])
            rest = rest[limit:]
    if rest.strip():
        parts.append(rest)
    return [p for p in parts if p.strip()]


def keyboard(choices: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    """Inline buttons for a survey, in the scale's order.

    A labelled button ("1 = very dissatisfied") gets a row of its own, so the
    words fit on a phone; runs of bare numbers share rows of up to 6, of
    equal size. CSAT 1–5 with its words is thus five rows; NPS 0–10 is
    "0 = not at all likely", 1–9 in two rows, then "10 = extremely likely".
    """
    if not choices:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    run: list[InlineKeyboardButton] = []

    def close_run() -> None:
        if run:
            count = -(-len(run) // BUTTONS_PER_ROW)
            width = -(-len(run) // count)
            rows.extend(run[i : i + width] for i in range(0, len(run), width))
            run.clear()

    for label, data in choices:
        button = InlineKeyboardButton(label, callback_data=data)
        if len(label) > SHORT_LABEL:
            close_run()
            rows.append([button])
        else:
            run.append(button)
    close_run()
    return InlineKeyboardMarkup(rows)


def map_error(exc: TelegramError) -> Exception:
    """The core's failure for one of PTB's errors (see rapport.crm.channel)."""
    if isinstance(exc, RetryAfter):
        return TransientFailure("Telegram rate limit (429)", retry_after=retry_seconds(exc))
    if isinstance(exc, Forbidden):
        # Blocked by the user, user deactivated, kicked: this chat is gone.
        return RecipientGone(f"Telegram refused the chat: {exc.message}")
    if isinstance(exc, ChatMigrated):
        return PermanentFailure(f"chat moved to {exc.new_chat_id}")
    if isinstance(exc, TimedOut | NetworkError) and not isinstance(exc, BadRequest):
        return TransientFailure(f"Telegram unreachable: {exc.message}", retry_after=None)
    return PermanentFailure(f"Telegram refused the message: {exc.message}")


class TelegramChannel:
    """Outbound Telegram; `send` to a chat id, get a `Receipt` or a typed failure."""

    name = TELEGRAM

    def __init__(self, bot: Bot, *, bulk: bool = False) -> None:
        self.bot = bot
        self.bulk = bulk and getattr(bot, "rate_limiter", None) is not None

    def for_campaigns(self) -> TelegramChannel:
        """The same bot and limits, but its sends give way to replies to customers."""
        return TelegramChannel(self.bot, bulk=True)

    async def send(self, external_id: str, message: OutboundMessage) -> Receipt:
        """Send one message (several parts if long); the receipt names the first part.

        Buttons go on the last part, so they sit under the whole question.
        A failure after the first part raises too: the dispatcher retries the
        whole message, which a customer sees as a repeat of the earlier parts,
        the lesser harm than a question without its ending.
        """
        try:
            chat_id = int(external_id)
        except ValueError:
            raise PermanentFailure("a Telegram chat id is a number") from None
        if message.html is not None:
            parts, parse_mode = split_text(message.html), ParseMode.HTML
        else:
            parts, parse_mode = split_text(message.text), None
        if not parts or not parts[0].strip():
            raise PermanentFailure("nothing to send: the message is empty")
        reply_to = _reply_parameters(message.reply_to_key, chat_id)
        first: Message | None = None
        # Only an ExtBot (one with a rate limiter, so `bulk`) takes rate_limit_args.
        limits: dict[str, Any] = {"rate_limit_args": BULK} if self.bulk else {}
        try:
            for number, part in enumerate(parts):
                last = number == len(parts) - 1
                sent = await self.bot.send_message(
                    chat_id=chat_id,
                    text=part,
                    parse_mode=parse_mode,
                    reply_markup=keyboard(message.choices) if last else None,
                    reply_parameters=reply_to if number == 0 else None,
                    link_preview_options=None,
                    **limits,
                )
                first = first or sent
        except TelegramError as exc:
            failure = map_error(exc)
            log.info("telegram send failed: %s", type(failure).__name__)
            raise failure from exc
        assert first is not None
        return Receipt(
            channel=TELEGRAM,
            message_key=message_key(chat_id, first.message_id),
            sent_at=first.date or utcnow(),
        )


def _reply_parameters(key: str | None, chat_id: int) -> ReplyParameters | None:
    """Quote the customer's message if the key names one in this chat."""
    parsed = parse_key(key) if key else None
    if parsed is None or parsed[0] != chat_id:
        return None
    return ReplyParameters(message_id=parsed[1], allow_sending_without_reply=True)
