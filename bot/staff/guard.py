"""Staff are never customers, and groups are not customer chats.

The last handler of the staff group (rapport.bot.staff.registry) sees what no
staff command or reply took, before the customer dialogs would:

- the staff group's own talk (`RAPPORT_STAFF_CHAT_ID`) and any other group or
  supergroup: not a customer's private chat, so nothing is stored or answered
  (a customer writes to the bot in private; staff answer in private or from
  the staff group by command or reply);
- an active staff member in their own chat with the bot, whatever the
  staff-group setting: told that this chat is not a customer chat (or, for a
  command that is not theirs, pointed at `/help`), never stored as a customer
  message, so it opens no conversation announced back to them.

`failure_text` is what a staff member hears when their command failed.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, TypeHandler

from rapport.bot.context import RapportContext
from rapport.bot.staff.kit import Commands, answer_tap, say
from rapport.crm.database import is_outage

log = logging.getLogger(__name__)

STAFF_CHAT_TEXT = (
    "This is your staff chat with the bot: what you write here is not stored as a "
    "customer message. /help lists your commands; reply to a conversation's message "
    "to answer its customer."
)


def failure_text(command: str, error: BaseException) -> str:
    """What failed, in words a staff member can act on (no traceback, no customer data)."""
    if isinstance(error, TelegramError):
        return (
            f"/{command} failed: Telegram did not take the answer ({type(error).__name__}: "
            f"{error.message}). Send /{command} again to retry."
        )
    if is_outage(error):
        return f"/{command} failed: the database is unavailable right now. Try again shortly."
    return (
        f"/{command} failed: an internal error ({type(error).__name__}). "
        "It is logged; please tell your administrator."
    )


def not_a_customer_chat(cmds: Commands) -> TypeHandler[Update, RapportContext, None]:
    """Stop updates from staff and from groups before they reach the customer dialogs."""

    async def guard(update: Update, context: RapportContext) -> None:
        chat, user, query = update.effective_chat, update.effective_user, update.callback_query
        if chat is None:
            return
        if chat.id == cmds.settings.staff_chat_id or chat.type != ChatType.PRIVATE:
            if query is not None:
                await answer_tap(query, None)
            raise ApplicationHandlerStop  # staff talk or a group: not a customer's chat
        if user is None:
            return
        member = await cmds.member(user.id)
        if member is None:
            return  # a customer: the dialogs take it
        if query is not None:
            await answer_tap(query, "This button is for customers.")
        elif update.message is not None:
            text = update.message.text or ""
            if text.startswith("/"):
                command = text.split()[0][:40]
                await say(
                    context.bot, chat.id, f"{command} is not a staff command; /help lists yours."
                )
            else:
                await say(context.bot, chat.id, STAFF_CHAT_TEXT)
        log.info("staff %d wrote in their own chat; not stored as a customer message", member.id)
        raise ApplicationHandlerStop

    return TypeHandler(Update, guard)
