"""The kit every staff command is built from: the call, the spec, pages and answers.

A command handler is `async def handler(cmds: Commands, call: Call)`: `Commands`
is what it may use of the running registry (the database, the settings, sending
a paged list), `Call` is the command being answered. `StaffCommand` is one entry
of the registry (rapport.bot.staff.registry.COMMANDS). This module imports no
other staff module, so the commands, the desk and the registry all build on it
and none of them on each other's internals.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from rapport.bot.context import RapportContext
from rapport.channels.registry import OutboundChannels
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.reports.programmes import Period
from rapport.crm.settings import Settings
from rapport.crm.staff.roles import Permission, StaffView, authorise

log = logging.getLogger(__name__)

STAFF_GROUP = -1
"""PTB handler group of the staff commands: before the customer dialogs (group 0)."""
PAGE_SIZE = 8
DEFAULT_DAYS = 30
MAX_DAYS = 3650
SNIPPET = 80
MAX_LINE = 400
"""Longest line of a paged list: a page (PAGE_SIZE lines) stays under Telegram's 4096."""


@dataclass(frozen=True, slots=True)
class Call:
    """One staff command being answered: who asked, in which chat, with which words.

    `outbound` and `wake_dispatcher` are the running app's (rapport.bot.context):
    runs reach the channels it sends through, and direct answers (a reply to an
    email conversation) go out on them.
    """

    bot: Bot
    chat_id: int
    member: StaffView
    args: list[str]
    outbound: OutboundChannels
    wake_dispatcher: Callable[[], None]

    @classmethod
    def answering(
        cls, context: RapportContext, chat_id: int, member: StaffView, args: list[str]
    ) -> Call:
        """The call for a command that arrived with this handler context."""
        return cls(context.bot, chat_id, member, args, context.outbound, context.wake_dispatcher)


@dataclass(frozen=True, slots=True)
class Page:
    text: str
    markup: InlineKeyboardMarkup | None


class Commands(Protocol):
    """What a handler may use of the registry that runs it (rapport.bot.staff.registry)."""

    db: Database
    settings: Settings

    async def member(self, user_id: int) -> StaffView | None: ...

    async def claim(self, chat_id: int, message_id: int) -> bool: ...

    async def send_page(self, call: Call, list_name: str) -> None: ...


Handler = Callable[[Commands, Call], Awaitable[None]]
ListBuilder = Callable[[Commands, StaffView, int], Awaitable[Page]]


@dataclass(frozen=True, slots=True)
class StaffCommand:
    name: str
    permission: Permission | None
    """None: any active staff member."""
    usage: str
    help: str
    handler: Handler


# --- reading the words of a command -------------------------------------------------------


def parse_days(word: str) -> int:
    if not word.isdigit() or not 1 <= int(word) <= MAX_DAYS:
        raise InvalidInput(f"the period is a number of days from 1 to {MAX_DAYS}, got {word!r}")
    return int(word)


def last_days(days: int) -> Period:
    return Period.last_days(days, utcnow())


def one_arg(call: Call, what: str) -> str:
    if not call.args:
        raise InvalidInput(f"give {what}")
    return " ".join(call.args)


def customer_id_arg(call: Call) -> int:
    if not call.args or not call.args[0].isdigit():
        raise InvalidInput("give the customer's id (see /customer)")
    return int(call.args[0])


# --- permission, text and answers ---------------------------------------------------------


def check(member: StaffView, permission: Permission | None) -> None:
    """`authorise` for commands that need a permission; any active staff otherwise."""
    if permission is not None:
        authorise(member, permission)


def pseudonym(user_id: int) -> str:
    """Enough to tell repeated attempts apart in the log without writing the id in clear."""
    return hashlib.sha256(f"telegram:{user_id}".encode()).hexdigest()[:10]


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def snippet(text: str | None) -> str:
    return clip(" ".join((text or "").split()), SNIPPET)


def paged(list_name: str, title: str, lines: Sequence[str], number: int) -> Page:
    """Page `number` (0-based, clamped) of `lines`, with previous/next buttons as needed."""
    if not lines:
        return Page(f"{title}: none yet.", None)
    pages = (len(lines) + PAGE_SIZE - 1) // PAGE_SIZE
    number = min(max(number, 0), pages - 1)
    shown = [clip(line, MAX_LINE) for line in lines[number * PAGE_SIZE : (number + 1) * PAGE_SIZE]]
    header = f"{title} ({len(lines)})" + (f", page {number + 1} of {pages}" if pages > 1 else "")
    buttons = []
    if number > 0:
        buttons.append(
            InlineKeyboardButton("‹ previous", callback_data=f"page:{list_name}:{number - 1}")
        )
    if number < pages - 1:
        buttons.append(
            InlineKeyboardButton("next ›", callback_data=f"page:{list_name}:{number + 1}")
        )
    markup = InlineKeyboardMarkup([buttons]) if buttons else None
    return Page("\n".join([header + ":", *shown]), markup)


async def say(
    bot: Bot, chat_id: int, text: str, *, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Answer staff; best effort (the command's effect is already stored), long text cut."""
    if len(text) > 4000:
        text = text[:3990] + "\n…"
    try:
        await bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
    except TelegramError as exc:
        log.warning("could not answer a staff chat: %s", type(exc).__name__)


async def answer_tap(query: CallbackQuery, text: str | None) -> None:
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.warning("could not answer a button tap: %s", type(exc).__name__)
