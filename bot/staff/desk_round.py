"""The desk round: what the desk tells staff without being asked, every half minute.

New conversations are announced to the staff on duty by `announce_new`: to
the staff group (`RAPPORT_STAFF_CHAT_ID`) or else to each active agent; later
customer messages go to the assigned member (`forward_new`); takes are shown
on other agents' copies (`rapport.bot.staff.desk.show_takes`); targets about to
be missed and follow-ups that fell due undone are reminded (`remind_due`,
`remind_follow_ups`). `DeskService` runs them all in `rapport run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from telegram import Bot, Message
from telegram.error import TelegramError

from rapport.bot.staff.desk import SNIPPET, show_takes
from rapport.channels.supervision import Supervisor
from rapport.crm.channel import Channel
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL
from rapport.crm.database import Database
from rapport.crm.desk.announcements import Announcement, mark_announced, pending_announcements
from rapport.crm.desk.first_answers import awaiting_first_answer, send_first_answer
from rapport.crm.desk.follow_ups import (
    FollowUpReminder,
    describe_reason,
    due_follow_ups,
    mark_reminded,
    overdue_by,
)
from rapport.crm.desk.forwarding import mark_forwarded, messages_to_forward
from rapport.crm.desk.report import due_reminders
from rapport.crm.desk.rules import DeskRules, load_rules
from rapport.crm.models import StaffMember, StaffRole
from rapport.crm.settings import Settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.chats import StaffChats

log = logging.getLogger(__name__)

SYSTEM = Actor(label="system:desk")


async def _tell_staff(
    bot: Bot, db: Database, settings: Settings, chats: Sequence[int], text: str, what: str
) -> list[tuple[int, Message]]:
    """Send one desk message to each of these staff chats; returns (chat, message) per chat
    that took it. A chat that cannot be reached is logged and skipped: the callers decide
    what an unreached message means (retry next round, or keep the order).

    Only chats the staff-chat policy allows get it (rapport.crm.staff.chats): the
    staff chat and active members' private chats, never a deactivated agent's.
    """
    allowed = await asyncio.to_thread(StaffChats(settings.staff_chat_id).deliverable, db, chats)
    sent: list[tuple[int, Message]] = []
    for chat_id in allowed:
        try:
            sent.append((chat_id, await bot.send_message(chat_id=chat_id, text=text)))
        except TelegramError as exc:
            log.warning("could not %s: %s", what, type(exc).__name__)
    return sent


def announcement_text(a: Announcement) -> str:
    head = ("⚠️ " if a.is_complaint else "") + f"Conversation #{a.conversation_id}"
    lines = [
        f"{head}: new from {a.customer_name or '(no name)'} (customer #{a.customer_id}) "
        f"via {a.channel}",
        f"segments: {', '.join(a.tags) or 'none'} · earlier conversations: "
        f"{a.earlier_conversations}",
    ]
    if a.first_message:
        body = " ".join(a.first_message.split())
        lines.append("“" + (body if len(body) <= SNIPPET else body[: SNIPPET - 1] + "…") + "”")
    lines.append(
        f"/take {a.conversation_id} · reply to this message to answer · "
        f"/resolve {a.conversation_id}"
    )
    return "\n".join(lines)


def _on_duty(db: Database, settings: Settings) -> list[int]:
    if settings.staff_chat_id is not None:
        return [settings.staff_chat_id]
    with db.session() as session:
        return [
            uid
            for uid in session.scalars(
                select(StaffMember.telegram_user_id).where(
                    StaffMember.active.is_(True),
                    StaffMember.role == StaffRole.AGENT.value,
                    StaffMember.telegram_user_id.is_not(None),
                )
            )
            if uid is not None
        ]


async def announce_new(bot: Bot, db: Database, settings: Settings) -> int:
    """Tell the staff on duty of conversations not yet announced; returns how many.

    A conversation counts as announced once one chat got it; if no chat could
    be reached it stays pending and the next round tries again.
    """
    pending = await asyncio.to_thread(pending_announcements, db)
    chats = await asyncio.to_thread(_on_duty, db, settings)
    if not pending or not chats:
        return 0
    own_chats = settings.staff_chat_id is None  # each agent's chat, not the group
    told: list[Announcement] = []
    messages: list[tuple[int, int, int]] = []
    for item in pending:
        text = announcement_text(item)
        sent = await _tell_staff(bot, db, settings, chats, text, "announce to a staff chat")
        if own_chats:
            messages += [(item.conversation_id, chat, m.message_id) for chat, m in sent]
        if sent:
            told.append(item)
    await asyncio.to_thread(mark_announced, db, SYSTEM, told, messages)
    return len(told)


async def forward_new(bot: Bot, db: Database, settings: Settings) -> int:
    """Show staff what customers wrote after the announcement; returns messages forwarded.

    To the assigned member, else to the staff on duty. Each forward starts with
    "Conversation #<id>", so a Telegram reply to it answers the customer.
    """
    forwards = await asyncio.to_thread(messages_to_forward, db)
    if not forwards:
        return 0
    on_duty = await asyncio.to_thread(_on_duty, db, settings)
    shown = []
    held: set[int] = set()
    for f in forwards:
        chats = [f.staff_telegram_id] if f.staff_telegram_id is not None else on_duty
        body = " ".join((f.body or "").split())
        reopened = " (reopened after resolution)" if f.reopened else ""
        text = (
            f"Conversation #{f.conversation_id}{reopened}: "
            f"{f.customer_name or '(no name)'} writes:\n"
        ) + (body if len(body) <= SNIPPET else body[: SNIPPET - 1] + "…")
        if f.conversation_id in held or not await _tell_staff(
            bot, db, settings, chats, text, "forward to a staff chat"
        ):
            # Keep each conversation's order: its later messages wait for the next
            # round. Other conversations go on; one nobody can be told of (no agent
            # on duty, an unreachable chat) must not stall the round for the rest.
            held.add(f.conversation_id)
            continue
        shown.append(f)
    await asyncio.to_thread(mark_forwarded, db, SYSTEM, shown)
    return len(shown)


async def remind_due(bot: Bot, db: Database, settings: Settings) -> int:
    """Remind the assigned agent (or the staff on duty) of targets about to be missed."""
    rules = load_rules(settings)
    reminders = await asyncio.to_thread(due_reminders, db, rules, utcnow())
    if not reminders:
        return 0
    on_duty = await asyncio.to_thread(_on_duty, db, settings)
    for r in reminders:
        chats = [r.staff_telegram_id] if r.staff_telegram_id is not None else on_duty
        late = "is overdue since" if r.due <= utcnow() else "is due at"
        text = (
            f"Conversation #{r.conversation_id}: the {r.what} {late} "
            f"{r.due.astimezone(settings.zone):%a %H:%M} ({settings.timezone}). "
            f"/take {r.conversation_id} · /reply {r.conversation_id} <text>"
        )
        await _tell_staff(bot, db, settings, chats, text, "send a desk reminder")
    return len(reminders)


def followup_reminder_text(r: FollowUpReminder, rules: DeskRules, now: datetime) -> str:
    """Starts "Conversation #<id>" like every desk message, so a reply to it answers."""
    zone = rules.hours.zone
    return (
        f"Conversation #{r.conversation_id}: the follow-up is overdue "
        f"{overdue_by(rules.hours, r.due_at, now)} "
        f"(due {r.due_at.astimezone(zone):%a %d %b %H:%M} {zone.key}). "
        f"Customer: {r.first_name or '(no name)'}; {describe_reason(r.reason)}.\n"
        f"/conversation {r.conversation_id} · /followup_done {r.conversation_id} · "
        f"/resolve {r.conversation_id}"
    )


async def remind_follow_ups(bot: Bot, db: Database, settings: Settings) -> int:
    """Tell the assigned agent (else the staff on duty) of follow-ups that fell due undone.

    Once per task: marked after at least one chat took the reminder, so a
    crash before the send loses nothing and one after it repeats it once
    (rapport.crm.desk.follow_ups says why that is the failure to accept). A task no chat
    could be told of stays unmarked for the next round.
    """
    rules, now = load_rules(settings), utcnow()
    due = await asyncio.to_thread(due_follow_ups, db, now)
    if not due:
        return 0
    on_duty = await asyncio.to_thread(_on_duty, db, settings)
    told: list[FollowUpReminder] = []
    for r in due:
        chats = [r.staff_telegram_id] if r.staff_telegram_id is not None else on_duty
        text = followup_reminder_text(r, rules, now)
        if await _tell_staff(bot, db, settings, chats, text, "send a follow-up reminder"):
            told.append(r)
            await asyncio.to_thread(mark_reminded, db, [r], now)
    return len(told)


class DeskService:
    """Every `interval` seconds: announce new conversations, remind of due targets.

    Also shows takes on other agents' announcements and reminds of overdue
    complaint follow-ups.

    Also sends the automatic first answer (office hours, out of hours, FAQ) to
    customers who wrote by email. Runs in `rapport run` beside the Telegram
    bot whose chats it writes to; a failing round is logged and the next one
    tries again.
    """

    name = "desk"

    def __init__(
        self,
        bot: Bot,
        db: Database,
        settings: Settings,
        channels: Mapping[str, Channel] | None = None,
        interval: float = 30.0,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.bot, self.db, self.settings, self.interval = bot, db, settings, interval
        self.supervisor = supervisor or Supervisor(db)
        self.channels = dict(channels or {})
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        load_rules(self.settings)  # a bad rules file stops the start, with its reason
        self._task = self.supervisor.spawn("desk", self._loop)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def tick(self) -> None:
        await self.first_answers()
        await announce_new(self.bot, self.db, self.settings)
        await forward_new(self.bot, self.db, self.settings)
        await show_takes(self.bot, self.db)
        await remind_due(self.bot, self.db, self.settings)
        await remind_follow_ups(self.bot, self.db, self.settings)

    async def first_answers(self) -> int:
        """Automatic first answers by email (Telegram's go out as the message comes in)."""
        rules, now = load_rules(self.settings), utcnow()
        email = {k: v for k, v in self.channels.items() if k == EMAIL}
        if not email or not (rules.office_hours or rules.out_of_hours or rules.faq):
            return 0
        sent = 0
        for conversation_id in await asyncio.to_thread(
            awaiting_first_answer, self.db, [EMAIL], now
        ):
            if await send_first_answer(self.db, rules, email, conversation_id, now) is not None:
                sent += 1
        return sent

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("desk round failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)
