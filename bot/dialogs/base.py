"""What every customer dialog does: store what came in, then answer and record the answer.

Every handler stores what the customer sent (through
`rapport.crm.interactions.ingest`) before it answers, and awaits that store, so
the update is acknowledged to Telegram only after the commit (see
`rapport.channels.telegram.service`). A replay of an update already stored is a
no-op: nothing is stored and nothing is answered twice. Bad input (too long,
odd Unicode, stickers without text) gets a clear answer and stores nothing.
Infrastructure errors (database down) are not caught here: they reach the
service, which leaves the update unacknowledged so Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from rapport.channels.telegram.inbound import from_message, message_key
from rapport.crm.clock import Clock, utcnow
from rapport.crm.customers.identity import TELEGRAM
from rapport.crm.database import Database
from rapport.crm.desk.rules import load_rules
from rapport.crm.errors import InvalidMessage, NotFound
from rapport.crm.interactions.ingest import ingest
from rapport.crm.interactions.outbound import record_outbound
from rapport.crm.messages import InboundMessage, IngestResult
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)


class DialogBase:
    """Bound to one database and one settings object; stores before it answers."""

    def __init__(self, db: Database, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        """When link codes are made and checked, and automatic first answers are owed."""
        self.desk = load_rules(settings)  # a bad rules file stops the start, with its reason

    async def _store(
        self, bot: Bot, update: Update, message: InboundMessage | None
    ) -> IngestResult | None:
        """Ingest one message; on bad input answer why and return None."""
        if message is None:
            return None
        try:
            return await asyncio.to_thread(
                ingest, self.db, message, max_chars=self.settings.max_message_chars
            )
        except InvalidMessage as exc:
            log.info("refused a telegram message: %s", type(exc).__name__)
            if update.effective_chat is not None:
                await self._say(
                    bot, update.effective_chat.id, f"Sorry, I could not take that: {exc}."
                )
            return None

    async def _say(
        self,
        bot: Bot,
        chat_id: int,
        text: str,
        *,
        reply_to: Message | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> Message | None:
        """Send an answer and record it in the customer's history (if we know them).

        An answer is best effort: the customer's message is already stored, so
        a failed send is logged, not retried by holding the update back.
        """
        try:
            sent = await bot.send_message(
                chat_id=chat_id,
                text=text,
                reply_markup=markup,
                reply_parameters=ReplyParameters(
                    message_id=reply_to.message_id, allow_sending_without_reply=True
                )
                if reply_to is not None
                else None,
            )
        except TelegramError as exc:
            log.warning("could not answer a telegram chat: %s", type(exc).__name__)
            return None
        await self._record(chat_id, sent)
        return sent

    async def _record(self, chat_id: int, sent: Message) -> None:
        # NotFound: we answered someone we store nothing about (a sticker first).
        with contextlib.suppress(NotFound):
            await asyncio.to_thread(
                record_outbound,
                self.db,
                TELEGRAM,
                str(chat_id),
                sent.text or "",
                message_key=message_key(chat_id, sent.message_id),
                sent_at=sent.date,
                automated=True,
            )

    async def _command(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> IngestResult | None:
        """Store a command as an automated message; None on a replay or bad input."""
        assert update.message is not None
        result = await self._store(
            context.bot, update, from_message(update.message, automated=True)
        )
        return None if result is None or result.duplicate else result
