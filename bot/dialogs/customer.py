"""What a customer can do with the bot on Telegram: the handlers, in dispatch order.

Consent: `/start` shows what we store and *offers* an opt-in button for offers
and news; only tapping "Yes" records marketing consent (source
`telegram:/start`). Merely starting a chat is not agreeing to marketing, which
is what a shop under GDPR-style rules does. `/stop` withdraws at once and is
confirmed; `/start` again offers the button again.

Commands, button taps on consent and the bot's own answers are stored as
`automated` interactions: they belong to the customer's history but do not open
a conversation for staff; free text and feedback do. Storing before answering
is rapport.bot.dialogs.base's rule; linking is rapport.bot.dialogs.linking.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from rapport.bot.context import RapportContext
from rapport.bot.dialogs.linking import MASKED_CODE, LinkingDialog, link_waiting
from rapport.bot.dialogs.texts import ACKNOWLEDGEMENT, HELP, LINK_OFFER, TEXT_ONLY, points_text
from rapport.bot.dialogs.updates import CONTENT, TYPED_COMMAND, typed_command
from rapport.bot.staff.kit import answer_tap
from rapport.channels.telegram.inbound import from_callback, from_message
from rapport.channels.telegram.outbound import TelegramChannel
from rapport.crm.campaigns.buttons import tapped_question
from rapport.crm.customers.identity import TELEGRAM
from rapport.crm.customers.linking import is_code
from rapport.crm.desk.first_answers import send_first_answer
from rapport.crm.errors import NotFound
from rapport.crm.privacy.consent import marketing_consent, set_marketing_consent
from rapport.crm.value.loyalty import parse_tiers, standing

log = logging.getLogger(__name__)

CONSENT_YES = "consent:yes"
CONSENT_NO = "consent:no"
WAITING_FOR_FEEDBACK = 1
FEEDBACK_SUBJECT = "Feedback"
STALE_BUTTON = "Sorry, this button no longer works."


class CustomerDialogs(LinkingDialog):
    """The customer-facing handlers, bound to one database and one settings object."""

    def handlers(self) -> list[BaseHandler[Update, RapportContext, object]]:
        """In dispatch order: the first that matches an update handles it."""
        return [
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, self.edited),
            self.link_conversation(),  # before feedback: waiting, it takes only a 6-digit code
            self.feedback_conversation(),
            CommandHandler("start", self.start),
            CommandHandler("stop", self.stop),
            CommandHandler("help", self.help),
            CommandHandler("points", self.points),
            # The same typed without a bot_command entity (some clients send plain text).
            MessageHandler(typed_command("start"), self.start),
            MessageHandler(typed_command("stop"), self.stop),
            MessageHandler(typed_command("help"), self.help),
            MessageHandler(typed_command("points"), self.points),
            CallbackQueryHandler(self.consent_choice, pattern=r"^consent:(yes|no)$"),
            CallbackQueryHandler(self.survey_answer),
            MessageHandler(filters.COMMAND, self.unknown_command),
            MessageHandler(filters.TEXT | filters.CAPTION, self.free_text),
            MessageHandler(CONTENT, self.without_text),  # media without a caption
        ]

    def feedback_conversation(self) -> ConversationHandler[RapportContext]:
        """`/feedback`, then the next text message is the feedback (or /cancel)."""
        return ConversationHandler(
            entry_points=[CommandHandler("feedback", self.feedback)],
            states={
                WAITING_FOR_FEEDBACK: [
                    MessageHandler(
                        filters.UpdateType.MESSAGE
                        & filters.TEXT
                        & ~filters.COMMAND
                        & ~TYPED_COMMAND,
                        self.feedback_text,
                    )
                ]
            },
            fallbacks=[CommandHandler("cancel", self.cancel)],
            allow_reentry=True,
        )

    async def start(self, update: Update, context: RapportContext) -> None:
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
            f"{LINK_OFFER}\n\n"
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

    async def stop(self, update: Update, context: RapportContext) -> None:
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

    async def help(self, update: Update, context: RapportContext) -> None:
        if await self._command(update, context) is not None:
            await self._say(context.bot, update.message.chat.id, HELP)  # type: ignore[union-attr]

    async def points(self, update: Update, context: RapportContext) -> None:
        result = await self._command(update, context)
        if result is None:
            return
        now = await asyncio.to_thread(
            standing, self.db, result.customer_id, parse_tiers(self.settings.loyalty_tiers)
        )
        await self._say(context.bot, update.message.chat.id, points_text(now))  # type: ignore[union-attr]

    async def unknown_command(self, update: Update, context: RapportContext) -> None:
        """Stores nothing: an unknown command is a typo, not a message to staff."""
        message = update.effective_message
        if message is None:
            return
        await self._say(
            context.bot, message.chat.id, "Sorry, I don't know that command.\n\n" + HELP
        )

    async def feedback(self, update: Update, context: RapportContext) -> int:
        if await self._command(update, context) is None:
            return ConversationHandler.END
        await self._say(
            context.bot,
            update.message.chat.id,  # type: ignore[union-attr]
            "We'd love to hear it: write your feedback in one message (or /cancel).",
        )
        return WAITING_FOR_FEEDBACK

    async def feedback_text(self, update: Update, context: RapportContext) -> int:
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

    async def cancel(self, update: Update, context: RapportContext) -> int:
        if update.effective_chat is not None:
            await self._say(context.bot, update.effective_chat.id, "Okay, no feedback this time.")
        return ConversationHandler.END

    async def consent_choice(self, update: Update, context: RapportContext) -> None:
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
            await answer_tap(query, "Please send /start first.")
            return
        await answer_tap(query, "Thanks, recorded")
        confirmation = (
            "You will get our offers and news here. Send /stop to end that at any time."
            if granted
            else "No offers then. Send /start if you change your mind."
        )
        try:
            await query.edit_message_text(confirmation)
        except TelegramError as exc:
            log.warning("could not confirm a consent choice: %s", type(exc).__name__)

    async def survey_answer(self, update: Update, context: RapportContext) -> None:
        """A tap on a survey button: stored once per question however often tapped.

        Only under a survey question Rapport sent to this chat, with one of its
        scores (rapport.crm.campaigns.buttons); any other tap is refused and stored
        nowhere. A question answered already (by an earlier tap, or by typing the
        score) says so. The tap answers its question and opens no conversation.
        """
        query = update.callback_query
        assert query is not None
        inbound = from_callback(query)
        if inbound is None or inbound.in_reply_to is None:
            await answer_tap(query, STALE_BUTTON)
            return
        question = await asyncio.to_thread(
            tapped_question,
            self.db,
            TELEGRAM,
            inbound.external_id,
            inbound.in_reply_to,
            inbound.text,
        )
        if question is None:
            log.info("refused a button tap under a message that is not a survey of ours")
            await answer_tap(query, STALE_BUTTON)
            return
        if question.answered:
            await answer_tap(query, "Already recorded")
            return
        result = await self._store(context.bot, update, replace(inbound, button=True))
        if result is None:
            await answer_tap(query, "Sorry, that answer could not be recorded.")
        elif result.duplicate:
            await answer_tap(query, "Already recorded")
        else:
            await answer_tap(query, "Thanks, recorded")

    async def free_text(self, update: Update, context: RapportContext) -> None:
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
            self.clock(),
        )
        if not answered:  # no automatic answer configured (or owed): the plain receipt
            await self._say(context.bot, message.chat.id, ACKNOWLEDGEMENT, reply_to=message)

    async def edited(self, update: Update, context: RapportContext) -> None:
        """An edit is stored as its own message (history shows both); no answer."""
        message = update.edited_message
        if message is None or (message.text or "").startswith("/"):
            return
        inbound = from_message(message)
        if inbound is not None and is_code(inbound.text) and link_waiting(context):
            inbound = replace(inbound, text=MASKED_CODE)  # a corrected link code: not in clear
        await self._store(context.bot, update, inbound)

    async def without_text(self, update: Update, context: RapportContext) -> None:
        message = update.message
        if message is not None:
            await self._say(context.bot, message.chat.id, TEXT_ONLY)
