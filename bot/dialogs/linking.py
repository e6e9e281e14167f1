"""Linking a Telegram chat to the customer the business knows by email.

`/link you@example.com`, then the code: the customer proves they own the
address with a one-time code mailed to it (`rapport.crm.customers.linking`); the
chat's customer is then merged into the email customer. The answer to `/link
ADDRESS` is the same whether or not the address is known, and is sent before
any mail, so neither its words nor its timing tell. The code is masked in the
stored command and in the recorded mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace

from telegram import Bot, Message, Update
from telegram.ext import CommandHandler, ContextTypes, ConversationHandler, MessageHandler, filters

from rapport.bot.dialogs.base import DialogBase
from rapport.bot.dialogs.texts import (
    CODE_SENT,
    LINK_ANSWERS,
    LINK_BAD_ADDRESS,
    LINK_BUSY,
    LINK_FAILED,
    LINK_UNAVAILABLE,
    LINK_USAGE,
    link_answer,
    link_mail,
)
from rapport.bot.staff.kit import SENDERS_KEY
from rapport.channels.telegram.inbound import from_message
from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.customers.identity import EMAIL
from rapport.crm.customers.linking import (
    CODE_LIFETIME,
    CODE_PATTERN,
    LinkRequest,
    LinkStatus,
    TooManyRequests,
    confirm_link,
    is_code,
    request_link,
)
from rapport.crm.errors import Conflict, InvalidMessage, NotFound, RapportError
from rapport.crm.interactions.outbound import record_outbound
from rapport.crm.messages import IngestResult, OutboundMessage

log = logging.getLogger(__name__)

WAITING_FOR_CODE = 2
MASKED_CODE = "[code]"
LINK_ASKED_AT = "rapport.link_asked_at"


class LinkingDialog(DialogBase):
    """`/link` and the code that confirms it; a subclass answers ordinary messages."""

    def link_conversation(self) -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
        """`/link`; while a code is awaited, a 6-digit message is that code (or /cancel)."""
        return ConversationHandler(
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

    async def free_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An ordinary message: what a bare number is once no code is awaited."""
        raise NotImplementedError

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
        if not link_waiting(context):
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


def link_waiting(context: ContextTypes.DEFAULT_TYPE) -> bool:
    """This chat asked for a code recently enough that a bare 6-digit message is that code."""
    asked = (context.chat_data or {}).get(LINK_ASKED_AT)
    return asked is not None and time.monotonic() - asked <= CODE_LIFETIME.total_seconds()


def _email_sender(context: ContextTypes.DEFAULT_TYPE) -> Channel | None:
    """The running email channel the runner handed the bots (None: sending mail is off)."""
    senders = context.application.bot_data.get(SENDERS_KEY) or {}
    return senders.get(EMAIL)
