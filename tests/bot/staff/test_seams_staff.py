"""Staff data stays with staff (issue 20, defects 1 and 2), through the real bot.

The PTB application polls the Bot API stand-in, which now has group chats:
a staff command sent in a group answers neutrally there and is audited; it
works in the member's private chat and in the configured staff chat. A
deactivated agent gets nothing any more, their conversations go back to the
desk, and a conversation nobody can be told of never stalls the round.
"""

from __future__ import annotations

from sqlalchemy import select, update
from typer.testing import CliRunner

from rapport.bot.app import customer_bot
from rapport.bot.cli import app as cli
from rapport.bot.context import BotShared
from rapport.bot.staff.desk_round import DeskService
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn, SentMessage
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.desk.conversations import take
from rapport.crm.models import AuditEvent, Conversation, Interaction
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.chats import NEUTRAL
from rapport.crm.staff.roles import StaffView, actor_for, add_staff, set_role, staff_by_telegram
from tests.support.tg_helpers import ask, bot_settings

AGENT, ADMIN, BEA, MANAGER = 9001, 9003, 9005, 9002
CARL, DORA = 5005, 5006
GROUP, STAFF_GROUP = -100555, -100777
CLI = Actor(label="cli:test")


async def _in_group(api: BotApiStandIn, group: int, user: int, text: str) -> list[SentMessage]:
    before = len(api.sent_to(group))
    await api.send_in_group(group, user, text)
    await api.wait_for(lambda: len(api.sent_to(group)) > before)
    await api.wait_for(lambda: not api.pending)
    return api.sent_to(group)[before:]


def _refusals(db: Database) -> list[str]:
    with db.session() as session:
        return [
            e.detail or ""
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "staff.chat_refused")
            )
        ]


def _member(db: Database, telegram_id: int) -> StaffView:
    member = staff_by_telegram(db, telegram_id)
    assert member is not None
    return member


async def test_staff_commands_in_a_group_answer_neutrally_and_are_audited(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(AGENT, "Ada")
    api.user(ADMIN, "Alan")
    add_staff(db, CLI, name="Agent Ada", role="agent", telegram_user_id=AGENT)
    add_staff(db, CLI, name="Admin Alan", role="admin", telegram_user_id=ADMIN)
    api.user(CARL, "Carl Jensen")
    await ask(api, CARL, "My secret order 4711 never came")
    api.group(GROUP, "Friends of the shop")

    shown = await _in_group(api, GROUP, AGENT, "/customer 1")
    shown += await _in_group(api, GROUP, ADMIN, "/privacy_export 1")
    shown += await _in_group(api, GROUP, AGENT, "/conversations")
    assert [m.text for m in shown] == [NEUTRAL] * 3
    assert all(m.kind == "text" for m in shown)  # no export document in the group
    for m in shown:
        assert "Carl" not in m.text and "4711" not in m.text
    refusals = _refusals(db)
    assert len(refusals) == 3
    assert "/customer" in refusals[0] and str(GROUP) in refusals[0]

    # The same commands in the member's own private chat work as before.
    profile = await ask(api, AGENT, "/customer 1")
    assert profile.text.startswith("Customer #1: Carl Jensen")
    before = len(api.sent_to(ADMIN))
    await api.send_text(ADMIN, "/privacy_export 1")
    await api.wait_for(lambda: len(api.sent_to(ADMIN)) >= before + 2)
    assert {m.kind for m in api.sent_to(ADMIN)[before:]} == {"document"}


async def test_the_configured_staff_chat_may_see_personal_data_other_groups_not(
    api: BotApiStandIn, db: Database
) -> None:
    api.user(AGENT, "Ada")
    add_staff(db, CLI, name="Agent Ada", role="agent", telegram_user_id=AGENT)
    api.group(STAFF_GROUP, "Desk")
    api.group(GROUP, "Family")
    running = customer_bot(bot_settings(api, staff_chat_id=STAFF_GROUP), db, BotShared())
    await running.start()
    try:
        api.user(CARL, "Carl Jensen")
        await ask(api, CARL, "Hello there")
        [answer] = await _in_group(api, STAFF_GROUP, AGENT, "/customer 1")
        assert answer.text.startswith("Customer #1: Carl Jensen")
        [answer] = await _in_group(api, GROUP, AGENT, "/customer 1")
        assert answer.text == NEUTRAL
        assert len(_refusals(db)) == 1
    finally:
        await running.stop()


async def test_a_removed_agent_gets_nothing_and_their_conversations_go_back_to_the_desk(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    for user, name in ((AGENT, "Ada"), (BEA, "Bea")):
        api.user(user, name)
        add_staff(db, CLI, name=f"Agent {name}", role="agent", telegram_user_id=user)
    api.user(CARL, "Carl")
    await ask(api, CARL, "Do you have this in blue?")
    desk = DeskService(service.application.bot, db, bot_settings(api))
    await desk.tick()  # announced to Ada and Bea
    taken = await ask(api, AGENT, "/take 1")
    assert taken.text.startswith("Conversation #1 is yours")
    seen_by_ada = len(api.sent_to(AGENT))

    result = CliRunner().invoke(cli, ["staff", "remove", str(_member(db, AGENT).id)],
                                env={"RAPPORT_DATABASE_URL": db.url, "COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "conversation(s) #1 unassigned" in result.output

    await api.send_text(CARL, "Or in green, if blue is gone?")
    await api.wait_for(lambda: not api.pending)
    await desk.tick()
    await desk.tick()
    assert len(api.sent_to(AGENT)) == seen_by_ada  # no forward, no announcement, nothing
    to_bea = [m.text for m in api.sent_to(BEA)]
    assert sum(t.startswith("Conversation #1: new from Carl") for t in to_bea) == 2  # again
    assert any("Or in green" in t for t in to_bea)  # the later message reaches the desk
    with db.session() as session:
        conversation = session.get(Conversation, 1)
        assert conversation is not None and conversation.assigned_staff_id is None
        actions = set(session.scalars(select(AuditEvent.action)))
    assert "conversation.handover" in actions
    # Ada's commands are a stranger's now: the customer dialogs' "unknown command".
    answer = await ask(api, AGENT, "/conversations")
    assert "Conversation" not in answer.text


async def test_deactivated_assignee_never_gets_forwards_or_reminders_even_without_handover(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    """Deactivated the old way (the role alone): forwards go to the staff on duty."""
    for user, name in ((AGENT, "Ada"), (BEA, "Bea")):
        api.user(user, name)
        add_staff(db, CLI, name=f"Agent {name}", role="agent", telegram_user_id=user)
    api.user(CARL, "Carl")
    await ask(api, CARL, "Hello, a question")
    desk = DeskService(service.application.bot, db, bot_settings(api))
    await desk.tick()
    take(db, actor_for(_member(db, AGENT)), 1)
    set_role(db, CLI, _member(db, AGENT).id, None, active=False)
    seen_by_ada = len(api.sent_to(AGENT))
    await api.send_text(CARL, "Anyone there?")
    await api.wait_for(lambda: not api.pending)
    await desk.tick()
    assert len(api.sent_to(AGENT)) == seen_by_ada
    assert any("Anyone there?" in m.text for m in api.sent_to(BEA))


async def test_a_conversation_nobody_can_be_told_of_does_not_stall_the_round(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(MANAGER, "Max")  # a manager: not on duty; no agents, no staff chat
    add_staff(db, CLI, name="Manager Max", role="manager", telegram_user_id=MANAGER)
    api.user(CARL, "Carl")
    api.user(DORA, "Dora")
    await ask(api, CARL, "First question")
    await ask(api, DORA, "Second question")
    with db.transaction() as session:  # both announced back when an agent was on duty
        session.execute(update(Conversation).values(announced_at=utcnow()))
    take(db, actor_for(_member(db, MANAGER)), 2)
    await api.send_text(CARL, "Carl again: nobody is on duty for this one")
    await api.send_text(DORA, "Dora again: Max has this one")
    await api.wait_for(lambda: not api.pending)
    await api.wait_for(lambda: _inbound(db) == 4)
    await DeskService(service.application.bot, db, bot_settings(api)).tick()
    assert any("Dora again" in m.text for m in api.sent_to(MANAGER))
    with db.session() as session:
        carl = session.get(Conversation, 1)
        assert carl is not None and carl.forwarded_through is None  # waits, not lost


def _inbound(db: Database) -> int:
    with db.session() as session:
        return len(
            session.scalars(select(Interaction.id).where(Interaction.direction == "in")).all()
        )
