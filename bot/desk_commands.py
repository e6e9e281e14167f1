"""The conversations desk in Telegram: staff take, answer and resolve conversations.

The commands join the staff registry (`rapport.bot.staff_commands.COMMANDS`), so
they share its permission checks, its refusal of non-staff and its help
and docs. They delegate to the `rapport.crm.desk` modules; answers go out through the
running app's outbound channels (`SENDERS_KEY`), so a customer who wrote
by email is answered by email, in the same thread.

New conversations are announced to the staff on duty by `announce_new`:
to the staff group (`RAPPORT_STAFF_CHAT_ID`) or else to each active agent;
later customer messages go to the assigned member (`forward_new`). Once
someone takes a conversation, the copies announced in other agents' own
chats are edited to say who (`show_takes`); follow-ups that fell due undone
are reminded once (`remind_follow_ups`).
An announcement starts with "Conversation #<id>", which is how a staff
member's Telegram reply to it is understood as `/reply <id> <text>`; the
bot keeps no state between the two.

This module does not import `rapport.bot.staff_commands` at load time (that module
imports this one to build its registry); the types are for checkers only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from telegram import Bot, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes, MessageHandler, filters

from rapport.crm.channel import Channel
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL
from rapport.crm.database import Database
from rapport.crm.desk.announcements import (
    Announcement,
    TakeNote,
    mark_announced,
    mark_take_noted,
    pending_announcements,
    take_notes,
)
from rapport.crm.desk.complaints import flag_complaint
from rapport.crm.desk.conversations import (
    ConversationView,
    conversation_thread,
    list_conversations,
    take,
)
from rapport.crm.desk.first_answers import awaiting_first_answer, send_first_answer
from rapport.crm.desk.follow_ups import (
    FollowUpReminder,
    FollowUpView,
    describe_reason,
    due_follow_ups,
    list_follow_ups,
    mark_done,
    mark_reminded,
    overdue_by,
)
from rapport.crm.desk.forwarding import mark_forwarded, messages_to_forward
from rapport.crm.desk.replies import send_reply
from rapport.crm.desk.report import DeskReport, DeskRow, desk_report, due_reminders
from rapport.crm.desk.resolution import send_resolution
from rapport.crm.desk.rules import DeskRules, load_rules
from rapport.crm.errors import InvalidInput, PermissionDenied, RapportError
from rapport.crm.models import StaffMember, StaffRole
from rapport.crm.reports.programmes import Period
from rapport.crm.settings import Settings
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import Permission, actor_for, authorise

if TYPE_CHECKING:
    from rapport.bot.staff_commands import Call, Page, StaffCommands

log = logging.getLogger(__name__)

SYSTEM = Actor(label="system:desk")
ANNOUNCED = re.compile(r"^(?:⚠️ )?Conversation #([0-9]{1,12})\b")
SNIPPET = 300


def _conversation_id(call: Call) -> int:
    if not call.args or not call.args[0].lstrip("#").isdigit():
        raise InvalidInput("give the conversation's number (see /conversations)")
    return int(call.args[0].lstrip("#"))


def _senders(bot_data: Mapping[str, object]) -> Mapping[str, Channel]:
    from rapport.bot.staff_commands import SENDERS_KEY

    found = bot_data.get(SENDERS_KEY)
    return found if isinstance(found, dict) else {}


async def _say(bot: Bot, chat_id: int, text: str) -> None:
    from rapport.bot.staff_commands import _say as say

    await say(bot, chat_id, text)


async def _tell_staff(
    bot: Bot, chats: Sequence[int], text: str, what: str
) -> list[tuple[int, Message]]:
    """Send one desk message to each of these staff chats; returns (chat, message) per chat
    that took it. A chat that cannot be reached is logged and skipped: the callers decide
    what an unreached message means (retry next round, or keep the order)."""
    sent: list[tuple[int, Message]] = []
    for chat_id in chats:
        try:
            sent.append((chat_id, await bot.send_message(chat_id=chat_id, text=text)))
        except TelegramError as exc:
            log.warning("could not %s: %s", what, type(exc).__name__)
    return sent


def view_line(v: ConversationView) -> str:
    who = v.customer_name or "(no name)"
    flags = " ⚠️complaint" if v.is_complaint else ""
    if v.follow_up_due is not None:
        flags += f" (follow up by {v.follow_up_due:%m-%d %H:%M} UTC)"
    owner = f", {v.assigned_name}" if v.assigned_name else ", unassigned"
    if v.reopened_count:
        owner += f", reopened ×{v.reopened_count}"
    error = " — last answer NOT delivered" if v.send_error else ""
    return (
        f"#{v.id} {who} via {v.channel}: {v.status}{owner}{flags}, "
        f"last message {v.last_message_at:%m-%d %H:%M}{error}"
    )


async def conversations_page(cmds: StaffCommands, member: StaffMember, number: int) -> Page:
    from rapport.bot.staff_commands import _paged

    views = await asyncio.to_thread(list_conversations, cmds.db, actor_for(member))
    return _paged("conversations", "Open conversations", [view_line(v) for v in views], number)


async def conversations(cmds: StaffCommands, call: Call) -> None:
    await cmds._send_page(call, "conversations")


async def conversation_command(cmds: StaffCommands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    view, thread = await asyncio.to_thread(
        conversation_thread, cmds.db, actor_for(call.member), conversation_id
    )
    lines = [view_line(view)]
    for m in thread:
        arrow = "←" if m.direction == "in" else ("→ (auto)" if m.automated else "→")
        body = " ".join((m.body or "(cleared)").split())
        lines.append(f"{m.sent_at:%m-%d %H:%M} {arrow} {body[:SNIPPET]}")
    lines.append(f"/reply {view.id} <text> · /resolve {view.id}")
    await _say(call.bot, call.chat_id, "\n".join(lines))


async def take_command(cmds: StaffCommands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    force = call.args[1:] == ["force"]
    if force and call.member.role == StaffRole.AGENT:
        raise PermissionDenied("only managers and admins take over someone else's conversation")
    view = await asyncio.to_thread(
        take, cmds.db, actor_for(call.member), conversation_id, force=force
    )
    try:
        await show_takes(call.bot, cmds.db, conversation_id)
    except Exception:  # the take stands; the desk round edits the copies later
        log.exception("could not show the take on other agents' announcements")
    await _say(
        call.bot,
        call.chat_id,
        f"Conversation #{view.id} is yours. Answer with /reply {view.id} <text>, "
        f"close it with /resolve {view.id}.",
    )


async def _reply(cmds: StaffCommands, call: Call, conversation_id: int, text: str) -> None:
    await send_reply(
        cmds.db, actor_for(call.member), _senders(call.bot_data), conversation_id, text
    )
    log.info("staff %d answered conversation %d", call.member.id, conversation_id)
    await _say(call.bot, call.chat_id, f"Sent to the customer of conversation #{conversation_id}.")


async def reply_command(cmds: StaffCommands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    await _reply(cmds, call, conversation_id, " ".join(call.args[1:]))


async def resolve_command(cmds: StaffCommands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    done = await send_resolution(
        cmds.db, actor_for(call.member), _senders(call.bot_data), conversation_id
    )
    text = f"Conversation #{conversation_id} is resolved."
    if done.survey_sent:
        text += " The customer was asked how the complaint was handled (1–5)."
    elif done.survey_error:
        text += f" The satisfaction question could NOT be sent: {done.survey_error}."
    await _say(call.bot, call.chat_id, text)


async def complaint_command(cmds: StaffCommands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    due = await asyncio.to_thread(
        flag_complaint,
        cmds.db,
        actor_for(call.member),
        conversation_id,
        load_rules(cmds.settings),
    )
    await _say(
        call.bot,
        call.chat_id,
        f"Conversation #{conversation_id} is a complaint; follow up by {due:%Y-%m-%d %H:%M} UTC.",
    )


def followup_line(v: FollowUpView, now: datetime, zone: ZoneInfo) -> str:
    """One open follow-up: overdue ones say so first; due dates in the business's zone."""
    when = "OVERDUE, was due" if v.overdue(now) else "due"
    owner = v.assigned_name or "unassigned"
    return (
        f"#{v.conversation_id} {v.customer_name or '(no name)'}: {when} "
        f"{v.due_at.astimezone(zone):%a %d %b %H:%M} · {describe_reason(v.reason)} · "
        f"{owner}, {v.status}"
    )


async def followups_page(cmds: StaffCommands, member: StaffMember, number: int) -> Page:
    from rapport.bot.staff_commands import _paged

    zone = load_rules(cmds.settings).hours.zone
    views = await asyncio.to_thread(list_follow_ups, cmds.db, actor_for(member))
    now = utcnow()
    return _paged(
        "followups",
        f"Open follow-ups, overdue first (times {zone.key})",
        [followup_line(v, now, zone) for v in views],
        number,
    )


async def followups(cmds: StaffCommands, call: Call) -> None:
    await cmds._send_page(call, "followups")


async def followup_done_command(cmds: StaffCommands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    view = await asyncio.to_thread(mark_done, cmds.db, actor_for(call.member), conversation_id)
    await _say(
        call.bot,
        call.chat_id,
        f"The follow-up of conversation #{view.conversation_id} is done; "
        f"the conversation stays {view.status} (/resolve {view.conversation_id} closes it).",
    )


def _minutes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def report_rows(report: DeskReport) -> list[tuple[str, ...]]:
    """One row per group (all, each agent, each segment): the same for /desk_report and the CLI."""

    def row(kind: str, r: DeskRow) -> tuple[str, ...]:
        kept = "—" if r.within_policy_pct is None else f"{r.within_policy_pct:.0f}%"
        csat = "—" if r.recovery_csat_mean is None else f"{r.recovery_csat_mean:.1f}"
        return (
            kind,
            r.group,
            str(r.conversations),
            f"{_minutes(r.first_response_p50)} / {_minutes(r.first_response_p90)}",
            f"{_minutes(r.resolution_p50)} / {_minutes(r.resolution_p90)}",
            f"{r.first_response_breaches} / {r.resolution_breaches}",
            kept,
            f"{r.complaints} / {csat} ({r.recovery_answers})",
            str(r.reopened),
            f"{r.follow_ups_overdue} / {r.follow_ups_done_late}",
        )

    return [
        row("total", report.overall),
        *(row("agent", r) for r in report.by_agent),
        *(row("segment", r) for r in report.by_segment),
    ]


REPORT_HEADER = (
    "",
    "group",
    "conversations",
    "first response p50 / p90",
    "resolution p50 / p90",
    "breaches first / resolution",
    "within policy",
    "complaints / recovery CSAT (answers)",
    "reopened",
    "follow-ups overdue / done late",
)


async def desk_report_command(cmds: StaffCommands, call: Call) -> None:
    from rapport.bot.staff_commands import _days

    if len(call.args) > 1:
        raise InvalidInput("give at most a number of days")
    days = _days(call.args[0]) if call.args else 30
    rules = load_rules(cmds.settings)
    now = utcnow()
    report = await asyncio.to_thread(desk_report, cmds.db, rules, Period.last_days(days, now), now)
    lines = [
        f"Contact policy, conversations opened in the last {days} days "
        "(business time; definitions: docs/desk.md)"
    ]
    for row in report_rows(report):
        kind, group, n, first, resolution, breaches, kept, recovery, reopened, follow = row
        label = "All" if kind == "total" else f"{kind} {group}"
        lines.append(
            f"{label}: {n} conversations, first response p50/p90 {first}, "
            f"resolution {resolution}, breaches {breaches}, within policy {kept}, "
            f"complaints / recovery CSAT {recovery}, reopened {reopened}, "
            f"follow-ups overdue / done late {follow}"
        )
    await _say(call.bot, call.chat_id, "\n".join(lines))


DESK_COMMANDS: tuple[
    tuple[str, Permission, str, str, Callable[[StaffCommands, Call], Awaitable[None]]], ...
] = (
    (
        "conversations",
        Permission.ANSWER,
        "",
        "open and waiting conversations, longest waiting first (audited)",
        conversations,
    ),
    (
        "conversation",
        Permission.ANSWER,
        "<conversation>",
        "one conversation with its latest messages (audited)",
        conversation_command,
    ),
    (
        "take",
        Permission.ANSWER,
        "<conversation> [force]",
        "take a conversation (force: a manager takes over)",
        take_command,
    ),
    (
        "reply",
        Permission.ANSWER,
        "<conversation> <text>",
        "answer the customer on their channel (or reply to the announcement)",
        reply_command,
    ),
    (
        "resolve",
        Permission.ANSWER,
        "<conversation>",
        "resolve; a complaint gets a CSAT question",
        resolve_command,
    ),
    (
        "complaint",
        Permission.ANSWER,
        "<conversation>",
        "flag a complaint and create its follow-up task",
        complaint_command,
    ),
    (
        "followups",
        Permission.ANSWER,
        "",
        "open complaint follow-ups, overdue first (audited)",
        followups,
    ),
    (
        "followup_done",
        Permission.ANSWER,
        "<conversation>",
        "mark a complaint's follow-up done without resolving the conversation",
        followup_done_command,
    ),
    (
        "desk_report",
        Permission.VIEW_REPORTS,
        "[days]",
        "response and resolution times against the contact policy, per agent and segment",
        desk_report_command,
    ),
)


def reply_handler(
    cmds: StaffCommands,
) -> MessageHandler[ContextTypes.DEFAULT_TYPE, None]:
    """A staff member's Telegram reply to an announcement is `/reply <id> <text>`."""

    async def on_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from rapport.bot.staff_commands import Call

        message, user = update.message, update.effective_user
        if message is None or user is None or message.reply_to_message is None:
            return
        original = message.reply_to_message
        if original.from_user is None or original.from_user.id != context.bot.id:
            return
        match = ANNOUNCED.match(original.text or "")
        if match is None:
            if message.chat.id == cmds.settings.staff_chat_id:
                raise ApplicationHandlerStop  # staff talk, not a customer's message
            return
        member = await cmds._member(user.id)
        if member is None:
            return  # not staff: the customer dialogs take it as an ordinary message
        call = Call(context.bot, message.chat.id, member, [], context.bot_data)
        try:
            authorise(member, Permission.ANSWER)
            await _reply(cmds, call, int(match.group(1)), message.text or "")
        except RapportError as exc:
            await _say(context.bot, message.chat.id, f"Not sent: {exc}.")
        raise ApplicationHandlerStop

    return MessageHandler(
        filters.UpdateType.MESSAGE & filters.REPLY & filters.TEXT & ~filters.COMMAND, on_reply
    )


def staff_chat_guard(
    cmds: StaffCommands,
) -> MessageHandler[ContextTypes.DEFAULT_TYPE, None] | None:
    """Keep the staff group's own talk out of the customer dialogs.

    Without it every remark in the group would be stored as a customer
    message, open a conversation and be announced back to the group.
    """
    chat_id = cmds.settings.staff_chat_id
    if chat_id is None:
        return None

    async def ignore(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise ApplicationHandlerStop

    return MessageHandler(filters.Chat(chat_id=chat_id), ignore)


# --- announcing --------------------------------------------------------------------------------


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
        sent = await _tell_staff(bot, chats, announcement_text(item), "announce to a staff chat")
        if own_chats:
            messages += [(item.conversation_id, chat, m.message_id) for chat, m in sent]
        if sent:
            told.append(item)
    await asyncio.to_thread(mark_announced, db, SYSTEM, told, messages)
    return len(told)


def taken_text(note: TakeNote) -> str:
    """What another agent's copy of the announcement becomes once someone took it."""
    return (
        f"Conversation #{note.conversation_id}: taken by {note.staff_name}. "
        f"/conversation {note.conversation_id} to read it."
    )


async def show_takes(bot: Bot, db: Database, conversation_id: int | None = None) -> int:
    """Edit the other agents' copies of an announcement to say who took the conversation.

    Called right after a /take and by every desk round (which also catches a
    take from the CLI or by a first answer). A copy that cannot be edited any
    more (deleted, too old) is noted all the same; a network failure leaves
    it for the next round. Returns how many copies were edited.
    """
    notes = await asyncio.to_thread(take_notes, db, conversation_id)
    done: list[TakeNote] = []
    edited = 0
    for note in notes:
        if not note.own:
            try:
                await bot.edit_message_text(
                    taken_text(note), chat_id=note.chat_id, message_id=note.message_id
                )
                edited += 1
            except BadRequest as exc:
                log.info("announcement copy not edited: %s", exc.message)
            except TelegramError as exc:
                log.warning("could not edit an announcement: %s", type(exc).__name__)
                continue
        done.append(note)
    await asyncio.to_thread(mark_take_noted, db, done)
    return edited


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
    for f in forwards:
        chats = [f.staff_telegram_id] if f.staff_telegram_id is not None else on_duty
        body = " ".join((f.body or "").split())
        reopened = " (reopened after resolution)" if f.reopened else ""
        text = (
            f"Conversation #{f.conversation_id}{reopened}: "
            f"{f.customer_name or '(no name)'} writes:\n"
        ) + (body if len(body) <= SNIPPET else body[: SNIPPET - 1] + "…")
        if not await _tell_staff(bot, chats, text, "forward to a staff chat"):
            break  # keep the order: the rest waits for the next round
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
        await _tell_staff(bot, chats, text, "send a desk reminder")
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
        if await _tell_staff(bot, chats, text, "send a follow-up reminder"):
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
    ) -> None:
        self.bot, self.db, self.settings, self.interval = bot, db, settings, interval
        self.channels = dict(channels or {})
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        load_rules(self.settings)  # a bad rules file stops the start, with its reason
        self._task = asyncio.create_task(self._loop(), name="desk")

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
