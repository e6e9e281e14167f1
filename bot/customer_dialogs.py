"""What a customer can do with the bot on Telegram: small handlers that delegate.

Every handler stores what the customer sent (through `rapport.crm.interactions.ingest`) before it
answers, and awaits that store, so the update is acknowledged to Telegram
only after the commit (see `rapport.channels.telegram.service`). A replay of an
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

Linking (`/link you@example.com`, then the code): a customer the business
knows by email proves they own the address with a one-time code mailed to it
(`rapport.crm.customers.linking`); the chat's customer is then merged into the email customer.
The answer to `/link ADDRESS` is the same whether or not the address is
known, and is sent before any mail, so neither its words nor its timing
tell. The code is masked in the stored command and in the recorded mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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

from rapport.bot.staff_commands import SENDERS_KEY
from rapport.channels.telegram.inbound import from_callback, from_message, message_key
from rapport.channels.telegram.outbound import TelegramChannel
from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.clock import Clock, utcnow
from rapport.crm.customers.identity import EMAIL, TELEGRAM
from rapport.crm.customers.linking import (
    CODE_LIFETIME,
    CODE_PATTERN,
    LinkOutcome,
    LinkRequest,
    LinkStatus,
    TooManyRequests,
    confirm_link,
    is_code,
    request_link,
)
from rapport.crm.database import Database
from rapport.crm.desk.first_answers import send_first_answer
from rapport.crm.desk.rules import load_rules
from rapport.crm.errors import Conflict, InvalidMessage, NotFound, RapportError
from rapport.crm.interactions.ingest import ingest
from rapport.crm.interactions.outbound import record_outbound
from rapport.crm.messages import InboundMessage, IngestResult, OutboundMessage
from rapport.crm.privacy.consent import marketing_consent, set_marketing_consent
from rapport.crm.settings import Settings
from rapport.crm.value.loyalty import Standing, parse_tiers, standing

log = logging.getLogger(__name__)

CONSENT_YES = "consent:yes"
CONSENT_NO = "consent:no"
WAITING_FOR_FEEDBACK = 1
WAITING_FOR_CODE = 2
FEEDBACK_SUBJECT = "Feedback"
MASKED_CODE = "[code]"
LINK_ASKED_AT = "rapport.link_asked_at"

COMMANDS = (
    ("start", "welcome and choose whether to get our offers"),
    ("help", "what I can do"),
    ("feedback", "tell us what you think"),
    ("points", "your loyalty points"),
    ("link", "link this chat to the email address you use with us"),
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

_MINUTES = int(CODE_LIFETIME.total_seconds() // 60)
LINK_OFFER = (
    "Already a customer by email? Send /link you@example.com and we'll keep one history "
    "(and one points balance) for you."
)
LINK_USAGE = (
    "To link this chat to the email address you use with us, send /link and the address, "
    "e.g. /link you@example.com. We'll email you a 6-digit code to send back here."
)
LINK_UNAVAILABLE = (
    "Sorry, linking this chat to an email address is not available at the moment. "
    "You can still write to us here."
)
LINK_BAD_ADDRESS = "That does not look like an email address. Send e.g. /link you@example.com."
CODE_SENT = (
    "If that address is one we know, we have just emailed it a 6-digit code. "
    f"Send the code here within {_MINUTES} minutes (or /cancel)."
)
LINK_ANSWERS = {
    LinkStatus.LINKED: (
        "Done: this chat is now linked to your account. Your history and points are in one "
        "place now (see /points)."
    ),
    LinkStatus.ALREADY_LINKED: "This chat is already linked to your account.",
    LinkStatus.EXPIRED: "That code has expired. Send /link you@example.com for a new one.",
    LinkStatus.NO_CODE: (
        "There is no code waiting for this chat. Send /link you@example.com to get one."
    ),
}
LINK_BUSY = (
    "We are sending you a message right now; please send the code again in a minute "
    "(it is still valid)."
)
LINK_FAILED = "Sorry, this chat could not be linked. Please write to us here and we'll help."
WRONG_CODE = "That code is not right. You can try {left} more time(s)."
DEAD_CODE = (
    "That code is not right, and it can no longer be used. "
    "Send /link you@example.com for a new one."
)


def link_mail(business: str, code: str) -> str:
    """The mail with the code: nothing from the chat (a Telegram name is the sender's to choose)."""
    return (
        f"Hello,\n\nSomeone asked to link a Telegram chat to this email address at {business}. "
        f"If that was you, send this code to our bot within {_MINUTES} minutes:\n\n"
        f"    {code}\n\n"
        "If it was not you, ignore this email: nothing changes without the code.\n"
    )


class CustomerDialogs:
    """The customer-facing handlers, bound to one database and one settings object."""

    def __init__(self, db: Database, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        """When link codes are made and checked, and automatic first answers are owed."""
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
        link = ConversationHandler(
            entry_points=[CommandHandler("link", self.link)],
            states={
                WAITING_FOR_CODE: [
                    MessageHandler(
                        filters.UpdateType.MESSAGE & filters.Regex(CODE_PATTERN), self.link_code
                    )
                ]
            },
            fallbacks=[CommandHandler("cancel", self.cancel_link)],
            allow_reentry=True,
        )
        return [
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, self.edited),
            link,  # before feedback: in its waiting state it takes only a 6-digit code
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

    # -- linking to an email customer ------------------------------------------------

    async def link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        """`/link ADDRESS` asks for a code by email; `/link CODE` confirms one."""
        message = update.message
        assert message is not None
        args = context.args or []
        arg = args[0] if len(args) == 1 else None
        code = arg is not None and is_code(arg)
        result = await self._store_link_message(
            context.bot, update, message, "/link " + MASKED_CODE if code else None
        )
        if result is None:
            return ConversationHandler.END
        chat_id = message.chat.id
        if arg is None:
            await self._say(context.bot, chat_id, LINK_USAGE)
            return ConversationHandler.END
        if code:
            return await self._confirm(context.bot, chat_id, result.customer_id, arg)
        return await self._request(context, chat_id, result.customer_id, arg)

    async def link_code(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        """A bare 6-digit message while a code is awaited; after the code's lifetime a bare
        number is just a message (an order number, say) and goes to staff as one."""
        message = update.message
        assert message is not None and message.text is not None
        if not _link_waiting(context):
            await self.free_text(update, context)
            return ConversationHandler.END
        result = await self._store_link_message(context.bot, update, message, MASKED_CODE)
        if result is None:
            return WAITING_FOR_CODE
        return await self._confirm(context.bot, message.chat.id, result.customer_id, message.text)

    async def cancel_link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        if update.effective_chat is not None:
            await self._say(context.bot, update.effective_chat.id, "Okay, no linking this time.")
        return ConversationHandler.END

    async def _store_link_message(
        self, bot: Bot, update: Update, message: Message, masked: str | None
    ) -> IngestResult | None:
        """Store the command (the code masked: it must not sit in the history in clear)."""
        inbound = from_message(message, automated=True)
        if inbound is not None and masked is not None:
            inbound = replace(inbound, text=masked)
        result = await self._store(bot, update, inbound)
        return None if result is None or result.duplicate else result

    async def _request(
        self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, customer_id: int, address: str
    ) -> int:
        sender = _email_sender(context)
        if sender is None:
            await self._say(context.bot, chat_id, LINK_UNAVAILABLE)
            return ConversationHandler.END
        try:
            request = await asyncio.to_thread(
                request_link, self.db, customer_id, address, now=self.clock()
            )
        except InvalidMessage:
            await self._say(context.bot, chat_id, LINK_BAD_ADDRESS)
            return ConversationHandler.END
        except TooManyRequests as exc:
            await self._say(context.bot, chat_id, f"Sorry: {exc}.")
            return ConversationHandler.END
        except RapportError as exc:
            log.info("no link code for customer %d: %s", customer_id, type(exc).__name__)
            await self._say(context.bot, chat_id, LINK_FAILED)
            return ConversationHandler.END
        if request.already_linked:
            await self._say(context.bot, chat_id, LINK_ANSWERS[LinkStatus.ALREADY_LINKED])
            return ConversationHandler.END
        await self._say(context.bot, chat_id, CODE_SENT)  # the same words either way, first
        if context.chat_data is not None:
            context.chat_data[LINK_ASKED_AT] = time.monotonic()
        if request.code is not None:
            await self._mail_code(sender, request)
        return WAITING_FOR_CODE

    async def _mail_code(self, sender: Channel, request: LinkRequest) -> None:
        """Best effort, and silent to the chat: a failure told there would reveal the address."""
        assert request.code is not None and request.address is not None
        name = self.settings.business_name
        subject = f"Your {name} link code"
        try:
            receipt = await sender.send(
                request.address,
                OutboundMessage(text=link_mail(name, request.code), subject=subject),
            )
        except DeliveryFailure as exc:
            log.warning("link code mail not sent: %s", type(exc).__name__)
            return
        with contextlib.suppress(NotFound, InvalidMessage):
            await asyncio.to_thread(
                record_outbound,
                self.db,
                EMAIL,
                request.address,
                link_mail(name, MASKED_CODE),
                message_key=receipt.message_key,
                sent_at=receipt.sent_at,
                subject=subject,
            )

    async def _confirm(self, bot: Bot, chat_id: int, customer_id: int, code: str) -> int:
        try:
            outcome = await asyncio.to_thread(
                confirm_link, self.db, customer_id, code, now=self.clock()
            )
        except Conflict:  # a campaign message to them is being sent; the code is still good
            await self._say(bot, chat_id, LINK_BUSY)
            return WAITING_FOR_CODE
        except RapportError as exc:  # the core's words name ids: staff's, not the customer's
            log.info("link not made for customer %d: %s", customer_id, type(exc).__name__)
            await self._say(bot, chat_id, LINK_FAILED)
            return ConversationHandler.END
        await self._say(bot, chat_id, link_answer(outcome))
        waiting = outcome.status is LinkStatus.WRONG and outcome.tries_left > 0
        return WAITING_FOR_CODE if waiting else ConversationHandler.END

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
            self.clock(),
        )
        if not answered:  # no automatic answer configured (or owed): the plain receipt
            await self._say(context.bot, message.chat.id, ACKNOWLEDGEMENT, reply_to=message)

    async def edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edit is stored as its own message (history shows both); no answer."""
        message = update.edited_message
        if message is None or (message.text or "").startswith("/"):
            return
        inbound = from_message(message)
        if inbound is not None and is_code(inbound.text) and _link_waiting(context):
            inbound = replace(inbound, text=MASKED_CODE)  # a corrected link code: not in clear
        await self._store(context.bot, update, inbound)

    async def without_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is not None:
            await self._say(context.bot, message.chat.id, TEXT_ONLY)


def link_answer(outcome: LinkOutcome) -> str:
    if outcome.status is LinkStatus.WRONG:
        return WRONG_CODE.format(left=outcome.tries_left) if outcome.tries_left else DEAD_CODE
    return LINK_ANSWERS[outcome.status]


def _link_waiting(context: ContextTypes.DEFAULT_TYPE) -> bool:
    """This chat asked for a code recently enough that a bare 6-digit message is that code."""
    asked = (context.chat_data or {}).get(LINK_ASKED_AT)
    return asked is not None and time.monotonic() - asked <= CODE_LIFETIME.total_seconds()


def _email_sender(context: ContextTypes.DEFAULT_TYPE) -> Channel | None:
    """The running email channel the runner handed the bots (None: sending mail is off)."""
    senders = context.application.bot_data.get(SENDERS_KEY) or {}
    return senders.get(EMAIL)


async def _answer(query: CallbackQuery, text: str) -> None:
    """Answer a button tap (Telegram shows the spinner until we do); best effort."""
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.warning("could not answer a button tap: %s", type(exc).__name__)
