"""The conversations desk through the real channels: Telegram stand-in and SMTP on loopback.

A customer writes (by email or Telegram), the staff on duty are told, an
agent takes the conversation, answers from Telegram (a command or a reply
to the announcement), the answer reaches the customer on the channel they
used (email in the same thread), resolving a complaint asks for CSAT, and
the customer's rating is recorded once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared
from rapport.bot.staff.desk_round import DeskService, announce_new
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.conversations import take
from rapport.crm.desk.report import desk_report
from rapport.crm.desk.rules import load_rules
from rapport.crm.models import (
    AuditEvent,
    Conversation,
    ConversationSurvey,
    FollowUp,
    Interaction,
)
from rapport.crm.reports.programmes import Period
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import StaffView, actor_for, add_staff, staff_by_telegram
from tests.support.email_inbound_smtp import send
from tests.support.email_sink import Sink
from tests.support.tg_helpers import ask, bot_settings, outbound_with_mail

AGENT, MANAGER, STRANGER, CUSTOMER = 9001, 9002, 9004, 5005
UNKNOWN = "Sorry, I don't know that command."


@pytest.fixture
async def inbound(db: Database) -> AsyncIterator[InboundSmtpService]:
    server = InboundSmtpService(db, "127.0.0.1", 0, max_bytes=1_000_000, timeout=10)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def outbound(api: BotApiStandIn, sink: Sink) -> OutboundChannels:
    """Both outbound channels, mail to the sink, as the root builds them."""
    return outbound_with_mail(api, sink.port)


@pytest.fixture
async def desk(api: BotApiStandIn, service: TelegramService, db: Database) -> TelegramService:
    """The running bot, with its staff, on both outbound channels (the `outbound` above)."""
    actor = Actor(label="cli:test")
    api.user(AGENT, "Ada")  # staff have opened a chat with the bot
    api.user(MANAGER, "Max")
    add_staff(db, actor, name="Agent Ada", role="agent", telegram_user_id=AGENT)
    add_staff(db, actor, name="Manager Max", role="manager", telegram_user_id=MANAGER)
    return service


def _conversation(db: Database, conversation_id: int) -> Conversation:
    with db.session() as session:
        found = session.get(Conversation, conversation_id)
        assert found is not None
        return found


def _mail(subject: bytes, body: bytes, message_id: bytes, in_reply_to: bytes = b"") -> bytes:
    head = (
        b"From: Zoe <zoe@example.org>\r\nTo: shop@example.com\r\nSubject: " + subject + b"\r\n"
        b"Message-ID: " + message_id + b"\r\n"
    )
    if in_reply_to:
        head += b"In-Reply-To: " + in_reply_to + b"\r\n"
    return head + b"\r\n" + body + b"\r\n"


async def test_email_complaint_from_message_to_reply_to_resolution_and_csat(
    api: BotApiStandIn, desk: TelegramService, db: Database, inbound: InboundSmtpService, sink: Sink
) -> None:
    first = b"<first-1@example.org>"
    await send(
        inbound.bound_port,
        _mail(b"My order is late", b"Where is my parcel? I want a refund.", first),
    )
    [conversation] = _all(db, Conversation)
    assert conversation.channel == "email" and conversation.status == "open"
    # "refund" is a complaint word in the default rules: flagged, with a follow-up task.
    assert conversation.is_complaint and conversation.complaint_reason == "word:refund"
    [task] = _all(db, FollowUp)
    assert task.conversation_id == conversation.id and task.done_at is None

    # The agent on duty is told, with the customer's summary; once only.
    settings = bot_settings(api)
    assert await announce_new(desk.application.bot, db, settings) == 1
    assert await announce_new(desk.application.bot, db, settings) == 0
    [announcement] = api.sent_to(AGENT)
    assert announcement.text.startswith(f"⚠️ Conversation #{conversation.id}: new from Zoe")
    assert "I want a refund" in announcement.text
    assert api.sent_to(MANAGER) == []  # only agents when no staff group is configured

    taken = await ask(api, AGENT, f"/take {conversation.id}")
    assert taken.text.startswith(f"Conversation #{conversation.id} is yours")

    # Someone who is not staff cannot answer: the neutral answer, nothing sent.
    refused = await ask(api, STRANGER, f"/reply {conversation.id} Free money!")
    assert refused.text.startswith(UNKNOWN)
    assert sink.received == []

    # The agent answers by replying to the announcement in Telegram.
    before = len(api.sent_to(AGENT))
    await api.send_reply(AGENT, announcement, "Sorry Zoe, it ships today; refund of postage done.")
    await api.wait_for(lambda: len(api.sent_to(AGENT)) > before)
    assert api.sent_to(AGENT)[-1].text.startswith("Sent to the customer")
    [answer] = sink.received
    mail = answer.message
    assert answer.rcpt_tos == ["zoe@example.org"]
    assert mail["Subject"] == "Re: My order is late"
    assert mail["In-Reply-To"] == first.decode() and first.decode() in mail["References"]
    assert "it ships today" in mail.get_body(("plain",)).get_content()
    answered = _conversation(db, conversation.id)
    assert answered.status == "waiting" and answered.first_response_at is not None
    assert answered.assigned_staff_id is not None and answered.send_error is None

    # An agent may not take over (only managers may), and is told why.
    takeover = await ask(api, AGENT, f"/take {conversation.id} force")
    assert takeover.text.startswith("Sorry: only managers and admins take over")
    # A manager must say "force" to take someone else's conversation, and then may.
    busy = await ask(api, MANAGER, f"/take {conversation.id}")
    assert busy.text.startswith(f"/take: conversation #{conversation.id} is taken by Agent Ada")
    mine = await ask(api, MANAGER, f"/take {conversation.id} force")
    assert mine.text.startswith(f"Conversation #{conversation.id} is yours")

    done = await ask(api, AGENT, f"/resolve {conversation.id}")
    assert "resolved" in done.text and "asked how the complaint was handled" in done.text
    assert _conversation(db, conversation.id).status == "resolved"
    assert _all(db, FollowUp)[0].done_at is not None
    question = sink.received[-1].message
    assert question["In-Reply-To"] == first.decode()  # still the same thread
    body = question.get_body(("plain",)).get_content()
    assert "1 (very dissatisfied) to 5 (very satisfied)" in body and "4 = satisfied" in body

    # The customer rates it by replying to the question; the rating is recorded once.
    await send(
        inbound.bound_port,
        _mail(
            b"Re: My order is late",
            b"5 - quick and kind",
            b"<r1@example.org>",
            question["Message-ID"].encode(),
        ),
    )
    await send(
        inbound.bound_port,
        _mail(b"Re: My order is late", b"2", b"<r2@example.org>", question["Message-ID"].encode()),
    )
    [survey] = _all(db, ConversationSurvey)
    assert (survey.score, survey.comment) == (5, "quick and kind")
    assert survey.conversation_id == conversation.id
    conversations = _all(db, Conversation)
    # Within the reopen window, yet a rating (even with words) reopens nothing.
    assert conversations[0].status == "resolved" and conversations[0].reopened_count == 0
    # Words with a rating are read by staff too: a new conversation, which the second
    # answer joins as an ordinary message (it rates nothing).
    assert len(conversations) == 2 and conversations[1].status == "open"
    with db.session() as session:
        joined = session.scalars(
            select(Interaction.body).where(Interaction.conversation_id == conversations[1].id)
        ).all()
    assert joined == ["5 - quick and kind", "2"]
    # A bare number later is no rating either (the question is answered): a message.
    await send(inbound.bound_port, _mail(b"Hi", b"4", b"<r3@example.org>"))
    assert _all(db, ConversationSurvey)[0].score == 5

    now = utcnow()
    report = desk_report(db, load_rules(settings), Period.last_days(1, now), now).overall
    assert (report.complaints, report.recovery_answers, report.recovery_csat_mean) == (1, 1, 5.0)

    with db.session() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert {"conversation.take", "conversation.reply", "conversation.resolve"} <= set(actions)


async def test_telegram_conversation_answered_by_command_and_rated_by_button(
    api: BotApiStandIn, desk: TelegramService, db: Database
) -> None:
    api.user(CUSTOMER, "Carl")
    await ask(api, CUSTOMER, "Hello, can I change my delivery address?")
    [conversation] = _all(db, Conversation)
    assert not conversation.is_complaint

    listing = await ask(api, AGENT, "/conversations")
    assert f"#{conversation.id} Carl via telegram: open, unassigned" in listing.text

    before = len(api.sent_to(CUSTOMER))
    ok = await ask(api, AGENT, f"/reply {conversation.id} Yes, send it to us here.")
    assert ok.text.startswith("Sent to the customer")
    assert api.sent_to(CUSTOMER)[before].text == "Yes, send it to us here."
    with db.session() as session:
        staff_out = session.scalars(
            select(Interaction).where(
                Interaction.direction == "out", Interaction.automated.is_(False)
            )
        ).all()
    assert [i.body for i in staff_out] == ["Yes, send it to us here."]
    assert staff_out[0].conversation_id == conversation.id

    flagged = await ask(api, MANAGER, f"/complaint {conversation.id}")
    assert "is a complaint; follow up by" in flagged.text
    listed = await ask(api, AGENT, "/conversations")
    assert "⚠️complaint (follow up by" in listed.text
    thread = await ask(api, AGENT, f"/conversation {conversation.id}")
    assert "← Hello, can I change my delivery address?" in thread.text
    assert "→ Yes, send it to us here." in thread.text
    await ask(api, AGENT, f"/resolve {conversation.id}")
    question = api.sent_to(CUSTOMER)[-1]
    assert [data for row in question.buttons for _, data in row] == ["1", "2", "3", "4", "5"]
    assert question.buttons[0] == [("1 = very dissatisfied", "1")]

    await api.tap(question, "4")
    await api.tap(question, "1")  # a second tap is a replay of the same answer
    await api.wait_for(lambda: _all(db, ConversationSurvey)[0].score is not None)
    [survey] = _all(db, ConversationSurvey)
    assert survey.score == 4
    assert len(_all(db, Conversation)) == 1  # the rating did not open a conversation


async def test_failed_answer_is_reported_and_kept_unanswered(
    api: BotApiStandIn, desk: TelegramService, db: Database, inbound: InboundSmtpService, sink: Sink
) -> None:
    await send(inbound.bound_port, _mail(b"Question", b"Do you ship to Malta?", b"<q@example.org>"))
    [conversation] = _all(db, Conversation)
    sink.handler.rcpt_replies["zoe@example.org"] = "550 5.1.1 no such user"
    failed = await ask(api, AGENT, f"/reply {conversation.id} Yes we do.")
    assert "was not delivered" in failed.text
    after = _conversation(db, conversation.id)
    assert after.status == "open" and after.first_response_at is None
    assert after.send_error is not None and "550" in after.send_error
    with db.session() as session:
        assert (
            session.scalars(
                select(Interaction).where(
                    Interaction.direction == "out", Interaction.automated.is_(False)
                )
            ).all()
            == []
        )
    listing = await ask(api, AGENT, "/conversations")
    assert "last answer NOT delivered" in listing.text

    empty = await ask(api, AGENT, f"/reply {conversation.id}")
    assert "the answer is empty" in empty.text
    missing = await ask(api, AGENT, "/reply 999 hello")
    assert "no conversation #999" in missing.text


def _all(db: Database, model: type) -> list:  # type: ignore[type-arg]
    with db.session() as session:
        return list(session.scalars(select(model).order_by(model.id)))  # type: ignore[attr-defined]


async def test_desk_round_announces_to_the_staff_group_and_reminds_before_a_breach(
    api: BotApiStandIn, desk: TelegramService, db: Database, tmp_path: Path
) -> None:
    rules = tmp_path / "desk.json"
    rules.write_text(
        json.dumps(
            {
                "business_hours": {"days": ["mon-sun"], "open": "00:00", "close": "23:59"},
                "policies": [
                    {"segment": "*", "first_response_minutes": 1, "resolution_minutes": 60}
                ],
                "remind_before_minutes": 5,
            }
        )
    )
    group = -100123
    api.user(group, "Desk group")
    settings = bot_settings(api, staff_chat_id=group, desk_rules=str(rules))
    api.user(CUSTOMER, "Carl")
    await ask(api, CUSTOMER, "Is the shop open on Sunday?")
    [conversation] = _all(db, Conversation)

    round_ = DeskService(desk.application.bot, db, settings)
    await round_.tick()
    await round_.tick()  # a second round repeats nothing
    texts = [m.text for m in api.sent_to(group)]
    assert len(texts) == 2 and api.sent_to(AGENT) == []
    assert texts[0].startswith(f"Conversation #{conversation.id}: new from Carl")
    assert texts[1].startswith(f"Conversation #{conversation.id}: the first response is")

    # Later messages reach the staff on duty while unassigned, then the assignee only.
    await ask(api, CUSTOMER, "Hello? Anyone there?")
    await round_.tick()
    assert api.sent_to(group)[-1].text == (
        f"Conversation #{conversation.id}: Carl writes:\nHello? Anyone there?"
    )
    await ask(api, AGENT, f"/take {conversation.id}")
    await ask(api, CUSTOMER, "It is urgent.")
    before = len(api.sent_to(group))
    await round_.tick()
    await round_.tick()  # shown once
    assert len(api.sent_to(group)) == before
    forwarded = [m.text for m in api.sent_to(AGENT) if "writes:" in m.text]
    assert forwarded == [f"Conversation #{conversation.id}: Carl writes:\nIt is urgent."]

    report = await ask(api, MANAGER, "/desk_report 7")
    assert report.text.startswith("Contact policy, conversations opened in the last 7 days")
    assert "All: 1 conversations" in report.text
    refused = await ask(api, AGENT, "/desk_report")
    assert refused.text.startswith("Sorry: your role (agent) does not allow you to view reports")


async def test_message_after_resolution_reopens_and_reaches_the_agent_again(
    api: BotApiStandIn, desk: TelegramService, db: Database
) -> None:
    api.user(CUSTOMER, "Carl")
    await ask(api, CUSTOMER, "Where is my parcel?")
    [conversation] = _all(db, Conversation)
    round_ = DeskService(desk.application.bot, db, bot_settings(api))
    await round_.tick()
    assert api.sent_to(AGENT)[-1].text.startswith(f"Conversation #{conversation.id}: new from")
    await ask(api, AGENT, f"/take {conversation.id}")
    await ask(api, AGENT, f"/reply {conversation.id} It left our store today.")
    await ask(api, AGENT, f"/resolve {conversation.id}")
    resolved = _conversation(db, conversation.id)
    assert resolved.status == "resolved" and resolved.resolved_at is not None

    # Within the reopen window (7 days by default): the same conversation, open again.
    await ask(api, CUSTOMER, "It still has not arrived.")
    [reopened] = _all(db, Conversation)
    assert reopened.id == conversation.id and reopened.status == "open"
    assert reopened.reopened_count == 1 and reopened.resolved_at is None
    assert reopened.first_response_at == resolved.first_response_at
    listing = await ask(api, AGENT, "/conversations")
    assert f"#{conversation.id} Carl via telegram: open, Agent Ada, reopened ×1" in listing.text

    # The desk round shows the assigned agent the reopening message, once.
    await round_.tick()
    await round_.tick()
    forwarded = [m for m in api.sent_to(AGENT) if "writes:" in m.text]
    assert [m.text for m in forwarded] == [
        f"Conversation #{conversation.id} (reopened after resolution): Carl writes:\n"
        "It still has not arrived."
    ]
    # A Telegram reply to the forward answers the customer in the same conversation.
    before = len(api.sent_to(AGENT))
    await api.send_reply(AGENT, forwarded[0], "Sorry! We send a new one today.")
    await api.wait_for(lambda: len(api.sent_to(AGENT)) > before)
    assert api.sent_to(CUSTOMER)[-1].text == "Sorry! We send a new one today."
    assert _conversation(db, conversation.id).status == "waiting"
    await ask(api, AGENT, f"/resolve {conversation.id}")
    again = _conversation(db, conversation.id)
    assert again.status == "resolved" and again.reopened_count == 1

    report = await ask(api, MANAGER, "/desk_report 7")
    assert "All: 1 conversations" in report.text and "reopened 1" in report.text


def _rules_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "desk.json"
    path.write_text(
        json.dumps(
            {
                "auto_answers": {"office_hours": {"*": text}, "out_of_hours": {"*": text}},
                "faq": [{"keywords": ["opening hours"], "answer": "Mon–Fri 9–17."}],
            }
        )
    )
    return str(path)


async def test_faq_first_answer_on_telegram_then_agent_reopens(
    db: Database, tmp_path: Path
) -> None:
    """Own bot: the dialogs read the desk rules from their settings at start."""
    async with BotApiStandIn(
        "123456:TEST-token", overall_rate=1000, overall_burst=1000, chat_rate=1000, chat_burst=1000
    ) as api:
        settings = bot_settings(api, desk_rules=_rules_file(tmp_path, "Thanks, noted."))
        running = customer_bot(settings, db, BotShared(OutboundChannels.from_settings(settings)))
        await running.start()
        try:
            api.user(CUSTOMER, "Carl")
            answer = await ask(api, CUSTOMER, "What are your opening hours?")
            assert answer.text == "Mon–Fri 9–17.\n\nReply 'agent' to reach a person."
            [conversation] = _all(db, Conversation)
            # The answer is recorded just after Telegram took it: wait for the record.
            await api.wait_for(lambda: _conversation(db, conversation.id).status == "waiting")
            assert _conversation(db, conversation.id).first_response_at is None
            with db.session() as session:
                auto = session.scalars(
                    select(Interaction).where(Interaction.body.startswith("Mon–Fri"))
                ).one()
            assert auto.automated and auto.conversation_id == conversation.id
            # "agent": the conversation is open again for staff; no second automatic answer.
            again = await ask(api, CUSTOMER, "agent")
            assert again.text.startswith("Thank you for your message!")
            assert _conversation(db, conversation.id).status == "open"
        finally:
            await running.stop()


async def test_email_first_answer_sent_once_in_the_thread(
    api: BotApiStandIn, desk: TelegramService, db: Database, inbound: InboundSmtpService,
    sink: Sink, tmp_path: Path, outbound: OutboundChannels,
) -> None:  # fmt: skip
    settings = bot_settings(api, desk_rules=_rules_file(tmp_path, "Thanks, a person will answer."))
    await send(inbound.bound_port, _mail(b"Hello", b"Is my order shipped?", b"<h1@example.org>"))
    round_ = DeskService(desk.application.bot, db, settings, outbound)
    assert await round_.first_answers() == 1
    assert await round_.first_answers() == 0
    [mail] = sink.received
    assert mail.message["In-Reply-To"] == "<h1@example.org>"
    assert mail.message["Subject"] == "Re: Hello"
    assert "a person will answer" in mail.message.get_body(("plain",)).get_content()
    [conversation] = _all(db, Conversation)
    assert conversation.status == "open" and conversation.first_response_at is None


async def test_staff_group_talk_is_not_taken_for_a_customer(db: Database) -> None:
    group = -100777
    async with BotApiStandIn(
        "123456:TEST-token", overall_rate=1000, overall_burst=1000, chat_rate=1000, chat_burst=1000
    ) as api:
        settings = bot_settings(api, staff_chat_id=group)
        running = customer_bot(settings, db, BotShared(OutboundChannels.from_settings(settings)))
        await running.start()
        try:
            api.user(group, "Desk group")
            api.user(CUSTOMER, "Carl")
            await api.send_text(group, "Who takes the Malta question?")
            await ask(api, CUSTOMER, "Do you ship to Malta?")  # processed after the group's
            assert api.sent_to(group) == []
            with db.session() as session:
                bodies = session.scalars(
                    select(Interaction.body).where(Interaction.direction == "in")
                ).all()
            assert bodies == ["Do you ship to Malta?"]
        finally:
            await running.stop()


async def test_overdue_follow_up_is_reminded_once_listed_and_marked_done(
    api: BotApiStandIn, desk: TelegramService, db: Database
) -> None:
    api.user(CUSTOMER, "Carl Jensen")
    await ask(api, CUSTOMER, "Hello, my order never came.")
    [conversation] = _all(db, Conversation)
    flagged = await ask(api, AGENT, f"/complaint {conversation.id}")
    assert "is a complaint; follow up by" in flagged.text
    settings = bot_settings(api)
    round_ = DeskService(desk.application.bot, db, settings)
    await round_.tick()  # announced; the follow-up is not due yet
    assert [m for m in api.sent_to(AGENT) if "follow-up is overdue" in m.text] == []

    # The follow-up falls due (as if 24 business hours had passed).
    with db.transaction() as session:
        session.scalars(select(FollowUp)).one().due_at = utcnow() - timedelta(minutes=5)
    await round_.tick()
    await round_.tick()  # a second round (or a restart) repeats nothing
    reminders = [m.text for m in api.sent_to(AGENT) if "follow-up is overdue" in m.text]
    assert len(reminders) == 1
    assert reminders[0].startswith(f"Conversation #{conversation.id}: the follow-up is overdue")
    assert "Customer: Carl; complaint: flagged by staff." in reminders[0]
    assert "Jensen" not in reminders[0]  # the first name only
    assert f"/followup_done {conversation.id}" in reminders[0]
    assert api.sent_to(MANAGER) == []  # unassigned, no staff group: the agents on duty
    assert _all(db, FollowUp)[0].reminded_at is not None

    listing = await ask(api, AGENT, "/followups")
    assert listing.text.startswith("Open follow-ups, overdue first (times UTC) (1):")
    assert f"#{conversation.id} Carl Jensen: OVERDUE, was due" in listing.text

    refused = await ask(api, STRANGER, f"/followup_done {conversation.id}")
    assert refused.text.startswith(UNKNOWN)
    assert _all(db, FollowUp)[0].done_at is None
    done = await ask(api, AGENT, f"/followup_done {conversation.id}")
    assert done.text.startswith(f"The follow-up of conversation #{conversation.id} is done")
    assert _all(db, FollowUp)[0].done_at is not None
    assert _conversation(db, conversation.id).status == "open"  # not resolved
    again = await ask(api, AGENT, f"/followup_done {conversation.id}")
    assert "already done" in again.text
    empty = await ask(api, AGENT, "/followups")
    assert empty.text.startswith("Open follow-ups, overdue first (times UTC): none yet.")
    with db.session() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert {"followups.list", "followup.done"} <= set(actions)

    report = await ask(api, MANAGER, "/desk_report 7")
    assert "follow-ups overdue 0, follow-ups done late 1" in report.text


async def test_a_take_is_shown_on_the_other_agents_announcements(
    api: BotApiStandIn, desk: TelegramService, db: Database
) -> None:
    bea = 9005
    api.user(bea, "Bea")
    add_staff(db, Actor(label="cli:test"), name="Agent Bea", role="agent", telegram_user_id=bea)
    api.user(CUSTOMER, "Carl")
    await ask(api, CUSTOMER, "Do you have this in blue?")
    [conversation] = _all(db, Conversation)
    settings = bot_settings(api)
    round_ = DeskService(desk.application.bot, db, settings)
    await round_.tick()
    [for_ada] = [m for m in api.sent_to(AGENT) if m.text.startswith("Conversation #")]
    [for_bea] = [m for m in api.sent_to(bea) if m.text.startswith("Conversation #")]

    await ask(api, AGENT, f"/take {conversation.id}")
    taken = f"Conversation #{conversation.id}: taken by Agent Ada. "
    assert [e[: len(taken)] for e in for_bea.edits] == [taken]
    assert for_ada.edits == []  # the taker's own copy stays as it was
    await round_.tick()
    await round_.tick()  # shown once
    assert len(for_bea.edits) == 1 and for_ada.edits == []

    # A takeover (here from the CLI, which has no bot) is shown by the next desk round.
    max_ = actor_for(_member(db, MANAGER))
    take(db, max_, conversation.id, force=True)
    await round_.tick()
    assert for_ada.edits[-1].startswith(f"Conversation #{conversation.id}: taken by Manager Max")
    assert for_bea.edits[-1].startswith(f"Conversation #{conversation.id}: taken by Manager Max")
    await round_.tick()
    assert (len(for_ada.edits), len(for_bea.edits)) == (1, 2)


def _member(db: Database, telegram_id: int) -> StaffView:
    member = staff_by_telegram(db, telegram_id)
    assert member is not None
    return member
