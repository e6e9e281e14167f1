"""What staff can do from Telegram: one registry of commands and the handlers that run it.

One registry, `COMMANDS`, says for each command its name, the permission it
needs, its one-line help and its handler (kept by area in the modules beside
this one); it drives the PTB handlers, `/help` (only what the member's role
allows) and docs/staff-commands.md (rapport.bot.staff.catalogue).

Every command asks `rapport.crm.staff.roles.authorise` first. Someone who is not
(active) staff learns nothing: the staff handlers step aside and the customer
dialogs answer with their usual "unknown command" (the attempt is logged with a
pseudonym of the user id and no message text). A member whose role lacks the
permission gets a clear refusal.

Precedence: the staff handlers sit in an earlier PTB handler group
(`STAFF_GROUP`) than the customer dialogs; when they handle an update they stop
it there (`ApplicationHandlerStop`), so a staff member's `/help` is the staff
help and a customer's `/help` is untouched. Anything that is not a staff command
goes on to the customer dialogs as before, except what comes from staff or from
a group (rapport.bot.staff.guard): staff are never customers.

A command's side effects happen once per message: it is claimed before it runs
(rapport.crm.operations.claims), so a retried or redelivered update does nothing
again; a command that fails is not retried but tells the member what failed.

Where the answer goes: only to the member's private chat with the bot or the
staff chat (`rapport.crm.staff.chats.StaffChats`); a command sent anywhere
else gets a neutral answer and an audit row, and runs nothing.

Long lists are paged with inline buttons (`page:<list>:<n>`); a tap re-reads the
list and edits the message in place, so nothing is kept between taps.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    filters,
)

from rapport.bot.context import RapportContext
from rapport.bot.staff.campaigns import CAMPAIGN_COMMANDS, campaigns_page, segments_page
from rapport.bot.staff.console import CONSOLE_COMMANDS
from rapport.bot.staff.customers import CUSTOMER_COMMANDS
from rapport.bot.staff.desk import (
    DESK_COMMANDS,
    conversations_page,
    followups_page,
    reply_handler,
)
from rapport.bot.staff.guard import failure_text, not_a_customer_chat
from rapport.bot.staff.kit import (
    STAFF_GROUP,
    Call,
    Commands,
    ListBuilder,
    StaffCommand,
    answer_tap,
    check,
    pseudonym,
    say,
)
from rapport.bot.staff.privacy import PRIVACY_COMMANDS, audit_page
from rapport.bot.staff.reports import REPORT_COMMANDS
from rapport.channels.supervision import describe
from rapport.channels.telegram.inbound import message_key
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import PermissionDenied, RapportError
from rapport.crm.operations.claims import claim_once
from rapport.crm.settings import Settings
from rapport.crm.staff.chats import NEUTRAL, StaffChats, refuse
from rapport.crm.staff.roles import (
    ROLE_PERMISSIONS,
    Permission,
    StaffView,
    actor_for,
    staff_by_telegram,
)

log = logging.getLogger(__name__)

_PAGE_DATA = re.compile(r"^page:([a-z_]+):([0-9]{1,6})$")


class StaffCommands:
    """The staff handlers, bound to one database and one settings object."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.chats = StaffChats(settings.staff_chat_id)

    def handlers(self) -> list[BaseHandler[Update, RapportContext, Any]]:
        found: list[BaseHandler[Update, RapportContext, Any]] = [
            CommandHandler(spec.name, self._entry(spec), filters=filters.UpdateType.MESSAGE)
            for spec in COMMANDS
        ]
        found.append(CallbackQueryHandler(self.page_tap, pattern=r"^page:"))
        found.append(reply_handler(self))
        found.append(not_a_customer_chat(self))  # last: what no staff handler took
        return found

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        application.add_handlers(self.handlers(), group=STAFF_GROUP)

    async def member(self, user_id: int) -> StaffView | None:
        """The active staff member with this Telegram user id, if any."""
        return await asyncio.to_thread(staff_by_telegram, self.db, user_id)

    async def claim(self, chat_id: int, message_id: int) -> bool:
        """True the first time this command message is handled (rapport.crm.operations.claims)."""
        return await asyncio.to_thread(
            claim_once, self.db, message_key(chat_id, message_id), now=utcnow()
        )

    def _entry(
        self, spec: StaffCommand
    ) -> Callable[[Update, RapportContext], Coroutine[Any, Any, None]]:
        async def entry(update: Update, context: RapportContext) -> None:
            user, chat = update.effective_user, update.effective_chat
            if user is None or chat is None:
                return
            member = await self.member(user.id)
            if member is None:
                # Step aside: the customer dialogs answer "unknown command" as for any typo.
                log.info("staff command /%s from non-staff user %s", spec.name, pseudonym(user.id))
                return
            if not self.chats.may_receive(chat.id, member):
                log.info(
                    "staff %d sent /%s in a chat that may not see personal data",
                    member.id,
                    spec.name,
                )
                await asyncio.to_thread(
                    refuse, self.db, actor_for(member), f"/{spec.name}", chat.id
                )
                await say(context.bot, chat.id, NEUTRAL)
                raise ApplicationHandlerStop
            message = update.effective_message
            if message is not None and not await self.claim(chat.id, message.message_id):
                log.info("staff %d: /%s already handled; not again", member.id, spec.name)
                raise ApplicationHandlerStop
            call = Call.answering(context, chat.id, member, list(context.args or []))
            try:
                check(member, spec.permission)
                await spec.handler(self, call)
            except PermissionDenied as exc:
                log.info("staff %d refused /%s: %s", member.id, spec.name, exc)
                await say(call.bot, chat.id, f"Sorry: {exc}.")
            except RapportError as exc:
                await say(
                    call.bot,
                    chat.id,
                    f"/{spec.name}: {exc}\nUsage: /{spec.name} {spec.usage}".rstrip(),
                )
            except Exception as exc:
                # Not retried (the update is done): a retry would repeat what already
                # happened (a document sent, an audit row). The member hears what failed.
                log.error("staff %d: /%s failed: %s", member.id, spec.name, describe(exc))
                log.debug("staff command failed", exc_info=exc)
                await say(call.bot, chat.id, failure_text(spec.name, exc))
            raise ApplicationHandlerStop

        return entry

    async def page_tap(self, update: Update, context: RapportContext) -> None:
        """A tap on previous/next: re-read the list, edit the message in place."""
        query = update.callback_query
        assert query is not None
        match = _PAGE_DATA.match(query.data or "")
        member = await self.member(query.from_user.id)
        if member is None or match is None or match.group(1) not in LISTS:
            log.info(
                "page tap from non-staff user %s or with bad data", pseudonym(query.from_user.id)
            )
            await answer_tap(query, None)
            raise ApplicationHandlerStop
        list_name, number = match.group(1), int(match.group(2))
        message = query.message
        if message is None or not self.chats.may_receive(message.chat.id, member):
            chat_id = message.chat.id if message is not None else 0
            await asyncio.to_thread(
                refuse, self.db, actor_for(member), f"page {list_name}", chat_id
            )
            await answer_tap(query, None)
            raise ApplicationHandlerStop
        permission, build = LISTS[list_name]
        try:
            check(member, permission)
            page = await build(self, member, number)
        except RapportError as exc:
            await answer_tap(query, str(exc))
            raise ApplicationHandlerStop from None
        await answer_tap(query, None)
        try:
            await query.edit_message_text(page.text, reply_markup=page.markup)
        except TelegramError as exc:
            log.warning("could not turn a page: %s", type(exc).__name__)
        raise ApplicationHandlerStop

    async def send_page(self, call: Call, list_name: str) -> None:
        """The first page of a paged list, with its buttons."""
        _, build = LISTS[list_name]
        page = await build(self, call.member, 0)
        await say(call.bot, call.chat_id, page.text, markup=page.markup)


async def staff_help(cmds: Commands, call: Call) -> None:
    allowed = ROLE_PERMISSIONS.get(call.member.role, frozenset())
    lines = [
        f"/{c.name} {c.usage}".rstrip() + f" – {c.help}"
        for c in COMMANDS
        if c.permission is None or c.permission in allowed
    ]
    await say(call.bot, call.chat_id, "Staff commands:\n" + "\n".join(lines))


async def whoami(cmds: Commands, call: Call) -> None:
    m = call.member
    allowed = sorted(ROLE_PERMISSIONS.get(m.role, frozenset()))
    await say(
        call.bot,
        call.chat_id,
        f"You are {m.name}, staff #{m.id}, role {m.role}.\nYou may: {', '.join(allowed)}.",
    )


COMMANDS: tuple[StaffCommand, ...] = (
    StaffCommand("help", None, "", "the staff commands your role allows", staff_help),
    StaffCommand("whoami", None, "", "your name, role and what it allows", whoami),
    *CUSTOMER_COMMANDS,
    *CAMPAIGN_COMMANDS,
    *REPORT_COMMANDS,
    *PRIVACY_COMMANDS,
    *DESK_COMMANDS,
    *CONSOLE_COMMANDS,
)

LISTS: dict[str, tuple[Permission | None, ListBuilder]] = {
    "segments": (Permission.VIEW_REPORTS, segments_page),
    "campaigns": (Permission.VIEW_REPORTS, campaigns_page),
    "audit": (Permission.VIEW_AUDIT, audit_page),
    "conversations": (Permission.ANSWER, conversations_page),
    "followups": (Permission.ANSWER, followups_page),
}
