"""Every kind of update Telegram sends, on purpose (issue 19, problems 4 and 7).

Updates are built as Telegram serialises them (the stand-in's helpers): service
messages, channel posts, commands typed without their entity, taps under
messages Rapport never sent, blocks and unblocks, groups. The real PTB
application answers what a customer wrote and nothing else.
"""

from __future__ import annotations

from sqlalchemy import select

from rapport.bot.dialogs.texts import TEXT_ONLY
from rapport.bot.staff.desk_round import announce_new, forward_new
from rapport.channels.telegram.service import Outcome, TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.models import Conversation, Customer, Identity, Interaction, SurveyResponse
from rapport.crm.privacy.consent import set_marketing_consent
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff
from tests.support.campaign_fixtures import campaign, everyone
from tests.support.tg_helpers import count, interactions, replies

ANN, BEA, AGENT, GROUP = 601, 602, 9001, -100777
STALE = "Sorry, this button no longer works."


async def test_service_messages_and_channel_posts_are_ignored_quietly(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    await api.send_service(ANN, "write_access_allowed", {"from_request": True})
    await api.send_service(
        ANN, "pinned_message", {"message_id": 1, "date": 0, "chat": {"id": ANN, "type": "private"}}
    )
    await api.send_service(ANN, "users_shared", {"request_id": 1, "users": [{"user_id": 5}]})
    post = {"message_id": 3, "date": 0, "chat": {"id": -1009, "type": "channel"}, "text": "News"}
    assert await service.receive({"update_id": 10_000, "channel_post": post}) is Outcome.DONE
    await api.send_sticker(ANN)  # media without text still gets the friendly hint
    await api.wait_for(replies(api, ANN)(1))
    await api.send_text(ANN, "/help")
    await api.wait_for(replies(api, ANN)(2))
    await api.wait_for(lambda: not api.pending)

    assert api.sent_to(ANN)[0].text == TEXT_ONLY  # the sticker's, nothing else
    assert len(api.sent_to(ANN)) == 2
    assert [i.body for i in interactions(db, Interaction.direction == "in")] == ["/help"]


async def test_start_without_its_entity_is_the_welcome(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    await api.send_text(ANN, "/start", entities=False)
    await api.wait_for(replies(api, ANN)(1))
    welcome = api.sent_to(ANN)[0]
    assert welcome.text.startswith("Welcome to Corner Shop!")
    assert [data for row in welcome.buttons for _, data in row] == ["consent:yes", "consent:no"]
    [stored] = interactions(db, Interaction.direction == "in")
    assert stored.automated and stored.conversation_id is None  # a command, not a message


async def test_a_tap_under_a_message_rapport_never_sent_is_refused(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    tap = await api.tap_unknown(ANN, 9_999, "4")
    await api.wait_for(lambda: tap in api.callback_answers)
    assert api.callback_answers[tap] == STALE
    assert count(db, Interaction) == 0 and count(db, Conversation) == 0


async def test_survey_taps_answer_without_reaching_the_agent_and_typed_first_is_already(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(AGENT, "Ada")
    add_staff(db, Actor(label="cli:test"), name="Agent Ada", role="agent", telegram_user_id=AGENT)
    for chat, name in ((ANN, "Ann"), (BEA, "Bea")):
        api.user(chat, name)
        await api.send_text(chat, "Where is my order?")  # an open conversation each
        await api.wait_for(replies(api, chat)(1))
        set_marketing_consent(db, "telegram", str(chat), granted=True, source="test")
    bot = service.application.bot
    assert await announce_new(bot, db, service.settings) == 2
    everyone(db)
    survey = campaign(db, "CSAT", kind="feedback", survey_kind="csat", template="How did we do?")
    start_run(db, survey.id)
    assert (await Dispatcher(db, {"telegram": service.channel}).drain()).sent == 2
    ann_question, bea_question = api.sent_to(ANN)[-1], api.sent_to(BEA)[-1]
    told_agent = len(api.sent_to(AGENT))

    tapped = await api.tap(ann_question, "4")
    await api.wait_for(lambda: tapped in api.callback_answers)
    assert api.callback_answers[tapped] == "Thanks, recorded"
    await api.send_text(BEA, "5")  # Bea types her answer first...
    await api.wait_for(replies(api, BEA)(3))
    late = await api.tap(bea_question, "2")  # ...then taps a button
    await api.wait_for(lambda: late in api.callback_answers)
    assert api.callback_answers[late] == "Already recorded"

    await forward_new(bot, db, service.settings)
    forwarded = [m.text for m in api.sent_to(AGENT)[told_agent:]]
    assert not any("Ann writes" in text for text in forwarded), forwarded  # a tap is no message
    with db.session() as s:
        scores = sorted(s.scalars(select(SurveyResponse.score)))
    assert scores == [4, 5]
    [tap_row] = interactions(db, Interaction.message_key.like("cb:%"))
    assert tap_row.body == "4" and tap_row.conversation_id is None


async def test_blocking_the_bot_marks_the_chat_unreachable_and_unblocking_clears_it(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    await api.send_text(ANN, "hello")
    await api.wait_for(replies(api, ANN)(1))

    def unreachable() -> str | None:
        with db.session() as s:
            found = select(Identity.unreachable_reason).where(Identity.external_id == str(ANN))
            return s.scalar(found)

    await api.member_status(ANN, "kicked")
    await api.wait_for(lambda: unreachable() == "blocked the bot")
    await api.member_status(ANN, "member")
    await api.wait_for(lambda: unreachable() is None and not api.pending)


async def test_group_and_supergroup_messages_are_not_customer_chats(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    api.group(GROUP, kind="supergroup")
    api.group(GROUP - 1, kind="group")
    await api.send_text(GROUP, "hello everyone", sender=ANN)
    await api.send_text(GROUP - 1, "/start", sender=ANN)
    await api.send_text(ANN, "/help")  # in private, she is answered
    await api.wait_for(replies(api, ANN)(1))
    await api.wait_for(lambda: not api.pending)
    assert api.sent_to(GROUP) == [] and api.sent_to(GROUP - 1) == []
    assert [i.body for i in interactions(db, Interaction.direction == "in")] == ["/help"]
    assert count(db, Customer) == 1
