"""Every kind of update on purpose: what is ignored, what blocks, what counts as a command.

docs/telegram.md has the table. The handlers here sit in the first handler
group (`QUIET_GROUP`), before the staff commands and the customer dialogs:

- channel posts and service messages (a user allowed the bot to write, a
  message was pinned, a payment, shared users, a chat photo changed, …) are
  ignored quietly: no answer, nothing stored. They are not someone writing.
- `my_chat_member`: a user who blocks the bot ("kicked") makes their identity
  unreachable at once, so no campaign tries them; unblocking ("member")
  makes it reachable again.

`typed_command` recognises a command typed without its `bot_command` entity
(some clients and bridges send "/start" as plain text), so "/start" always
gets its welcome.
"""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import ChatMember, Update
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    ChatMemberHandler,
    MessageHandler,
    filters,
)

from rapport.bot.context import RapportContext
from rapport.crm.clock import Clock, utcnow
from rapport.crm.customers.identity import TELEGRAM
from rapport.crm.customers.reachability import set_reachable
from rapport.crm.database import Database

log = logging.getLogger(__name__)

QUIET_GROUP = -3
"""PTB handler group of these handlers: before the staff commands (-1) and dialogs (0)."""

CONTENT = (
    filters.TEXT
    | filters.CAPTION
    | filters.PHOTO
    | filters.Document.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Sticker.ALL
    | filters.LOCATION
    | filters.VENUE
    | filters.CONTACT
    | filters.POLL
    | filters.Dice.ALL
)
"""What a person sends: words, media, a place or a contact. Everything else a message
can carry is a service message."""


def typed_command(name: str) -> filters.BaseFilter:
    """ "/name" (or "/name@bot") typed as plain text, without the bot_command entity."""
    return (
        filters.UpdateType.MESSAGE
        & filters.Regex(re.compile(rf"^/{name}(?:@\w+)?(?:\s|$)", re.IGNORECASE))
        & ~filters.COMMAND
    )


TYPED_COMMAND = filters.Regex(r"^/[A-Za-z0-9_]+(?:@\w+)?(?:\s|$)")
"""Any command-looking text, entity or not (kept out of free-text states)."""


async def _ignore(update: Update, context: RapportContext) -> None:
    log.debug("telegram: ignored an update that is nobody writing (%s)", update.update_id)
    raise ApplicationHandlerStop


def quiet_handlers(
    db: Database, *, clock: Clock = utcnow
) -> list[BaseHandler[Update, RapportContext, None]]:
    """The first handler group: channel posts, service messages, blocks and unblocks."""

    async def member_changed(update: Update, context: RapportContext) -> None:
        change = update.my_chat_member
        if change is None or change.chat.type != "private":
            raise ApplicationHandlerStop  # added to or removed from a group: nobody to mark
        status = change.new_chat_member.status
        if status in (ChatMember.BANNED, ChatMember.MEMBER):
            known = await asyncio.to_thread(
                set_reachable,
                db,
                TELEGRAM,
                str(change.chat.id),
                reachable=status == ChatMember.MEMBER,
                now=clock(),
            )
            log.info("telegram: a chat %s the bot%s", "blocked" if status == ChatMember.BANNED
                     else "unblocked", "" if known else " (not a customer)")  # fmt: skip
        raise ApplicationHandlerStop

    return [
        MessageHandler(filters.UpdateType.CHANNEL_POSTS, _ignore),
        MessageHandler(filters.UpdateType.MESSAGES & ~CONTENT, _ignore),
        ChatMemberHandler(member_changed, ChatMemberHandler.MY_CHAT_MEMBER),
    ]
