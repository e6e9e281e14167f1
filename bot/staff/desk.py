"""The conversations desk in Telegram: staff take, answer and resolve conversations.

The commands join the staff registry (rapport.bot.staff.registry.COMMANDS), so
they share its permission checks, its refusal of non-staff and its help and
docs. They delegate to `rapport.crm.desk.conversations`; answers go out through
the running app's outbound channels (`Call.outbound`), so a customer who wrote by
email is answered by email, in the same thread.

Every desk message to staff starts with "Conversation #<id>" (the desk round,
rapport.bot.staff.desk_round, sends them); that is how a staff member's
Telegram reply to one is understood as `/reply <id> <text>`, with no state kept
between the two. Once someone takes a conversation, the copies announced in
other agents' own chats are edited to say who (`show_takes`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Bot, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from rapport.bot.context import RapportContext
from rapport.bot.staff.desk_report import desk_report_command
from rapport.bot.staff.guard import failure_text
from rapport.bot.staff.kit import (
    Call,
    Commands,
    Page,
    StaffCommand,
    paged,
    say,
)
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.announcements import TakeNote, mark_take_noted, take_notes
from rapport.crm.desk.complaints import flag_complaint
from rapport.crm.desk.conversations import (
    ConversationView,
    conversation_thread,
    list_conversations,
    take,
)
from rapport.crm.desk.follow_ups import FollowUpView, describe_reason, list_follow_ups, mark_done
from rapport.crm.desk.replies import send_reply
from rapport.crm.desk.resolution import send_resolution
from rapport.crm.desk.rules import load_rules
from rapport.crm.errors import InvalidInput, PermissionDenied, RapportError
from rapport.crm.models import StaffRole
from rapport.crm.staff.chats import NEUTRAL, StaffChats, refuse
from rapport.crm.staff.roles import Permission, StaffView, actor_for, authorise

log = logging.getLogger(__name__)

ANNOUNCED = re.compile(r"^(?:⚠️ )?Conversation #([0-9]{1,12})\b")
SNIPPET = 300


def _conversation_id(call: Call) -> int:
    if not call.args or not call.args[0].lstrip("#").isdigit():
        raise InvalidInput("give the conversation's number (see /conversations)")
    return int(call.args[0].lstrip("#"))


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


async def conversations_page(cmds: Commands, member: StaffView, number: int) -> Page:
    views = await asyncio.to_thread(list_conversations, cmds.db, actor_for(member))
    return paged("conversations", "Open conversations", [view_line(v) for v in views], number)


async def conversations(cmds: Commands, call: Call) -> None:
    await cmds.send_page(call, "conversations")


async def conversation_command(cmds: Commands, call: Call) -> None:
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
    await say(call.bot, call.chat_id, "\n".join(lines))


async def take_command(cmds: Commands, call: Call) -> None:
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
    await say(
        call.bot,
        call.chat_id,
        f"Conversation #{view.id} is yours. Answer with /reply {view.id} <text>, "
        f"close it with /resolve {view.id}.",
    )


async def _reply(cmds: Commands, call: Call, conversation_id: int, text: str) -> None:
    await send_reply(cmds.db, actor_for(call.member), call.outbound, conversation_id, text)
    log.info("staff %d answered conversation %d", call.member.id, conversation_id)
    await say(call.bot, call.chat_id, f"Sent to the customer of conversation #{conversation_id}.")


async def reply_command(cmds: Commands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    await _reply(cmds, call, conversation_id, " ".join(call.args[1:]))


async def resolve_command(cmds: Commands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    done = await send_resolution(cmds.db, actor_for(call.member), call.outbound, conversation_id)
    text = f"Conversation #{conversation_id} is resolved."
    if done.survey_sent:
        text += " The customer was asked how the complaint was handled (1–5)."
    elif done.survey_error:
        text += f" The satisfaction question could NOT be sent: {done.survey_error}."
    await say(call.bot, call.chat_id, text)


async def complaint_command(cmds: Commands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    due = await asyncio.to_thread(
        flag_complaint,
        cmds.db,
        actor_for(call.member),
        conversation_id,
        load_rules(cmds.settings),
    )
    await say(
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


async def followups_page(cmds: Commands, member: StaffView, number: int) -> Page:
    zone = load_rules(cmds.settings).hours.zone
    views = await asyncio.to_thread(list_follow_ups, cmds.db, actor_for(member))
    now = utcnow()
    return paged(
        "followups",
        f"Open follow-ups, overdue first (times {zone.key})",
        [followup_line(v, now, zone) for v in views],
        number,
    )


async def followups(cmds: Commands, call: Call) -> None:
    await cmds.send_page(call, "followups")


async def followup_done_command(cmds: Commands, call: Call) -> None:
    conversation_id = _conversation_id(call)
    view = await asyncio.to_thread(mark_done, cmds.db, actor_for(call.member), conversation_id)
    await say(
        call.bot,
        call.chat_id,
        f"The follow-up of conversation #{view.conversation_id} is done; "
        f"the conversation stays {view.status} (/resolve {view.conversation_id} closes it).",
    )


def reply_handler(
    cmds: Commands,
) -> MessageHandler[RapportContext, None]:
    """A staff member's Telegram reply to an announcement is `/reply <id> <text>`."""

    async def on_reply(update: Update, context: RapportContext) -> None:
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
        member = await cmds.member(user.id)
        if member is None:
            return  # not staff: the customer dialogs take it as an ordinary message
        if not StaffChats(cmds.settings.staff_chat_id).may_receive(message.chat.id, member):
            await asyncio.to_thread(refuse, cmds.db, actor_for(member), "a reply", message.chat.id)
            await say(context.bot, message.chat.id, NEUTRAL)
            raise ApplicationHandlerStop
        if not await cmds.claim(message.chat.id, message.message_id):
            raise ApplicationHandlerStop  # answered already: a retry sends nothing twice
        call = Call.answering(context, message.chat.id, member, [])
        try:
            authorise(member, Permission.ANSWER)
            await _reply(cmds, call, int(match.group(1)), message.text or "")
        except RapportError as exc:
            await say(context.bot, message.chat.id, f"Not sent: {exc}.")
        except Exception as exc:
            log.error("staff %d: a reply failed: %s", member.id, type(exc).__name__)
            log.debug("a staff reply failed", exc_info=exc)
            await say(context.bot, message.chat.id, failure_text("reply", exc))
        raise ApplicationHandlerStop

    return MessageHandler(
        filters.UpdateType.MESSAGE & filters.REPLY & filters.TEXT & ~filters.COMMAND, on_reply
    )


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


DESK_COMMANDS = (
    StaffCommand(
        "conversations",
        Permission.ANSWER,
        "",
        "open and waiting conversations, longest waiting first (audited)",
        conversations,
    ),
    StaffCommand(
        "conversation",
        Permission.ANSWER,
        "<conversation>",
        "one conversation with its latest messages (audited)",
        conversation_command,
    ),
    StaffCommand(
        "take",
        Permission.ANSWER,
        "<conversation> [force]",
        "take a conversation (force: a manager takes over)",
        take_command,
    ),
    StaffCommand(
        "reply",
        Permission.ANSWER,
        "<conversation> <text>",
        "answer the customer on their channel (or reply to the announcement)",
        reply_command,
    ),
    StaffCommand(
        "resolve",
        Permission.ANSWER,
        "<conversation>",
        "resolve; a complaint gets a CSAT question",
        resolve_command,
    ),
    StaffCommand(
        "complaint",
        Permission.ANSWER,
        "<conversation>",
        "flag a complaint and create its follow-up task",
        complaint_command,
    ),
    StaffCommand(
        "followups",
        Permission.ANSWER,
        "",
        "open complaint follow-ups, overdue first (audited)",
        followups,
    ),
    StaffCommand(
        "followup_done",
        Permission.ANSWER,
        "<conversation>",
        "mark a complaint's follow-up done without resolving the conversation",
        followup_done_command,
    ),
    StaffCommand(
        "desk_report",
        Permission.VIEW_REPORTS,
        "[days]",
        "response and resolution times against the contact policy, per agent and segment",
        desk_report_command,
    ),
)
