"""What a customer can do with the bot on Telegram: small handlers that delegate.

Every handler stores what the customer sent (through `crm.ingest`) before it
answers, and awaits that store, so the update is acknowledged to Telegram
only after the commit (see `channels.telegram.service`). A replay of an
update already stored is a no-op: nothing is stored and nothing is answered
twice. Bad input (too long, odd Unicode, stickers without text) gets a clear
answer and stores nothing. Infrastructure errors (database down) are not
caught here: they reach the service, which leaves the update unacknowledged
so Telegram delivers it again.

Consent: `/start` shows what we store and *offers* an opt-in button for
offers and news; only tapping "Yes" records marketing consent (source
`telegram:/start`). Merely starting a chat is not agreeing to marketing,
which is what a shop under GDPR-style rules does. `/stop` withdraws at once
and is confirmed; `/start` again offers the button again.

Commands, button taps on consent and the bot's own answers are stored as
`automated` interactions: they belong to the customer's history but do not
open a conversation for staff; free text and feedback do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from channels.telegram.inbound import from_callback, from_message, message_key
from channels.telegram.outbound import TelegramChannel
from crm.clock import utcnow
from crm.consent import marketing_consent, set_marketing_consent
from crm.conversations import send_first_answer
from crm.database import Database
from crm.desk_rules import load_rules
from crm.errors import InvalidMessage, NotFound
from crm.identity import TELEGRAM
from crm.ingest import ingest
from crm.loyalty import Standing, parse_tiers, standing
from crm.messages import InboundMessage, IngestResult
from crm.outbound import record_outbound
from crm.settings import Settings

log = logging.getLogger(__name__)

CONSENT_YES = "consent:yes"
CONSENT_NO = "consent:no"
WAITING_FOR_FEEDBACK = 1
FEEDBACK_SUBJECT = "Feedback"

COMMANDS = (
    ("start", "welcome and choose whether to get our offers"),
    ("help", "what I can do"),
    ("feedback", "tell us what you think"),
    ("points", "your loyalty points"),
    ("stop", "stop offers and news"),
)

HELP = "You can write to us here any time; a person reads every message.\n\n" + "\n".join(
    f"/{name} – {what}" for name, what in COMMANDS
)


def points_text(now: Standing) -> str:
    """The /points answer: balance, tier, and how far the next tier is."""
    lines = [f"You have {now.balance:,} points. Your tier: {now.tier.title()}."]
    if now.next_tier is not None:
        missing = now.next_tier.threshold - now.earned_this_year
        lines.append(
            f"Earn {missing:,} more points within 12 months to reach {now.next_tier.name.title()}."
        )
    return "\n".join(lines)


TEXT_ONLY = (
    "Sorry, I can only read text for now. Please tell me in words what you would like, "
    "or add a caption to your photo."
)
ACKNOWLEDGEMENT = "Thank you for your message! We have received it and will answer here soon."


class CustomerDialogs:
    """The customer-facing handlers, bound to one database and one settings object."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.desk = load_rules(settings)  # a bad rules file stops the start, with its reason

    def handlers(self) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
        """In dispatch order: the first that matches an update handles it."""
        feedback = ConversationHandler(
            entry_points=[CommandHandler("feedback", self.feedback)],
            states={
                WAITING_FOR_FEEDBACK: [
                    MessageHandler(
                        filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND,
                        self.feedback_text,
                    )
                ]
            },
            fallbacks=[CommandHandler("cancel", self.cancel)],
            allow_reentry=True,
        )
        return [
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, self.edited),
            feedback,
            CommandHandler("start", self.start),
            CommandHandler("stop", self.stop),
            CommandHandler("help", self.help),
            CommandHandler("points", self.points),
            CallbackQueryHandler(self.consent_choice, pattern=r"^consent:(yes|no)$"),
            CallbackQueryHandler(self.survey_answer),
            MessageHandler(filters.COMMAND, self.unknown_command),
            MessageHandler(filters.TEXT | filters.CAPTION, self.free_text),
            MessageHandler(filters.ALL, self.without_text),
        ]

    # -- storing and answering ---------------------------------------------------

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

    # -- commands -----------------------------------------------------------------

    async def _command(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> IngestResult | None:
        """Store a command as an automated message; None on a replay or bad input."""
        assert update.message is not None
        result = await self._store(
            context.bot, update, from_message(update.message, automated=True)
        )
        return None if result is None or result.duplicate else result

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._command(update, context) is None:
            return
        chat_id = update.message.chat.id  # type: ignore[union-attr]
        name = self.settings.business_name
        consenting = await asyncio.to_thread(marketing_consent, self.db, TELEGRAM, str(chat_id))
        if consenting:
            await self._say(
                context.bot,
                chat_id,
                f"Welcome back to {name}! You get our offers and news here; "
                "send /stop to end that at any time.\n\n" + HELP,
            )
            return
        await self._say(
            context.bot,
            chat_id,
            f"Welcome to {name}! Write to us here any time.\n\n"
            "We keep your Telegram name and the messages you send us so we can answer "
            "you; nothing else.\n\n"
            "Would you also like offers and news from us here? You can change your mind "
            "at any time with /stop.",
            markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton("Yes, send me offers", callback_data=CONSENT_YES),
                        InlineKeyboardButton("No, thanks", callback_data=CONSENT_NO),
                    ]
                ]
            ),
        )

    async def stop(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._command(update, context) is None:
            return
        chat_id = update.message.chat.id  # type: ignore[union-attr]
        await asyncio.to_thread(
            set_marketing_consent,
            self.db,
            TELEGRAM,
            str(chat_id),
            granted=False,
            source="telegram:/stop",
        )
        await self._say(
            context.bot,
            chat_id,
            "Done: you will get no more offers or news from us. We still answer when you "
            "write. Send /start if you change your mind.",
        )

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._command(update, context) is not None:
            await self._say(context.bot, update.message.chat.id, HELP)  # type: ignore[union-attr]

    async def points(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        result = await self._command(update, context)
        if result is None:
            return
        now = await asyncio.to_thread(
            standing, self.db, result.customer_id, parse_tiers(self.settings.loyalty_tiers)
        )
        await self._say(context.bot, update.message.chat.id, points_text(now))  # type: ignore[union-attr]

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stores nothing: an unknown command is a typo, not a message to staff."""
        message = update.effective_message
        if message is None:
            return
        await self._say(
            context.bot, message.chat.id, "Sorry, I don't know that command.\n\n" + HELP
        )

    # -- feedback -------------------------------------------------------------------

    async def feedback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        if await self._command(update, context) is None:
            return ConversationHandler.END
        await self._say(
            context.bot,
            update.message.chat.id,  # type: ignore[union-attr]
            "We'd love to hear it: write your feedback in one message (or /cancel).",
        )
        return WAITING_FOR_FEEDBACK

    async def feedback_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        message = update.message
        assert message is not None
        inbound = from_message(message)
        assert inbound is not None
        result = await self._store(context.bot, update, replace(inbound, subject=FEEDBACK_SUBJECT))
        if result is None:
            return WAITING_FOR_FEEDBACK
        if not result.duplicate:
            await self._say(
                context.bot, message.chat.id, "Thank you for your feedback!", reply_to=message
            )
        return ConversationHandler.END

    async def cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        if update.effective_chat is not None:
            await self._say(context.bot, update.effective_chat.id, "Okay, no feedback this time.")
        return ConversationHandler.END

    # -- buttons ----------------------------------------------------------------------

    async def consent_choice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Record the opt-in choice; the consent fields keep when and how it was given."""
        query = update.callback_query
        assert query is not None and query.message is not None
        chat_id = query.message.chat.id
        granted = query.data == CONSENT_YES
        try:
            await asyncio.to_thread(
                set_marketing_consent,
                self.db,
                TELEGRAM,
                str(chat_id),
                granted=granted,
                source="telegram:/start",
            )
        except NotFound:
            await _answer(query, "Please send /start first.")
            return
        await _answer(query, "Thanks, recorded")
        confirmation = (
            "You will get our offers and news here. Send /stop to end that at any time."
            if granted
            else "No offers then. Send /start if you change your mind."
        )
        try:
            await query.edit_message_text(confirmation)
        except TelegramError as exc:
            log.warning("could not confirm a consent choice: %s", type(exc).__name__)

    async def survey_answer(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A tap on a survey button: stored once per question however often tapped."""
        query = update.callback_query
        assert query is not None
        result = await self._store(context.bot, update, from_callback(query))
        if result is None:
            await _answer(query, "Sorry, that answer could not be recorded.")
        elif result.duplicate:
            await _answer(query, "Already recorded")
        else:
            await _answer(query, "Thanks, recorded")

    # -- everything else ----------------------------------------------------------------

    async def free_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        result = await self._store(context.bot, update, from_message(message))
        if result is None or result.duplicate:
            return
        answered = result.conversation_id is not None and await send_first_answer(
            self.db,
            self.desk,
            {TELEGRAM: TelegramChannel(context.bot)},
            result.conversation_id,
            utcnow(),
        )
        if not answered:  # no automatic answer configured (or owed): the plain receipt
            await self._say(context.bot, message.chat.id, ACKNOWLEDGEMENT, reply_to=message)

    async def edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edit is stored as its own message (history shows both); no answer."""
        message = update.edited_message
        if message is not None and not (message.text or "").startswith("/"):
            await self._store(context.bot, update, from_message(message))

    async def without_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is not None:
            await self._say(context.bot, message.chat.id, TEXT_ONLY)


async def _answer(query: CallbackQuery, text: str) -> None:
    """Answer a button tap (Telegram shows the spinner until we do); best effort."""
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.warning("could not answer a button tap: %s", type(exc).__name__)
