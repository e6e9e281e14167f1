"""Whole conversations through the Bot API stand-in: the customer's side of Rapport."""

from __future__ import annotations

from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import Customer, Interaction, PointsEntry
from tests.support.tg_helpers import ask, count, customer, interactions, replies

ANN = 1001


async def test_new_customer_is_greeted_stored_and_offered_consent(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann", "ann_k")
    greeting = await ask(api, ANN, "/start")
    assert "Welcome to Corner Shop" in greeting.text
    assert greeting.parse_mode is None
    assert greeting.buttons == [
        [("Yes, send me offers", "consent:yes"), ("No, thanks", "consent:no")]
    ]
    stored = customer(db)
    assert stored is not None
    assert stored.display_name == "Ann"
    assert stored.marketing_consent is False  # starting a chat is not agreeing to offers
    await api.wait_for(lambda: count(db, Interaction) == 2)  # the answer is recorded after sending
    history = interactions(db)
    assert [(i.direction, i.body, i.automated) for i in history] == [
        ("in", "/start", True),
        ("out", greeting.text, True),
    ]
    assert history[1].message_key == f"msg:{ANN}:{greeting.message_id}"

    query = await api.tap(greeting, "consent:yes")
    await api.wait_for(lambda: query in api.callback_answers)
    assert api.callback_answers[query] == "Thanks, recorded"
    stored = customer(db)
    assert stored is not None
    assert stored.marketing_consent is True
    assert stored.consent_source == "telegram:/start"
    await api.wait_for(lambda: bool(greeting.edits))
    assert "You will get our offers" in greeting.edits[-1]

    again = await ask(api, ANN, "/start")
    assert "Welcome back" in again.text
    assert again.buttons == []
    assert count(db, Customer) == 1


async def test_stop_is_honoured_and_start_offers_opt_in_again(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    offer = await ask(api, ANN, "/start")
    query = await api.tap(offer, "consent:yes")
    await api.wait_for(lambda: query in api.callback_answers)

    answer = await ask(api, ANN, "/stop")
    assert "no more offers" in answer.text
    stored = customer(db)
    assert stored is not None
    assert (stored.marketing_consent, stored.consent_source) == (False, "telegram:/stop")

    offer = await ask(api, ANN, "/start")
    assert offer.buttons[0][0] == ("Yes, send me offers", "consent:yes")
    query = await api.tap(offer, "consent:yes")
    await api.wait_for(lambda: query in api.callback_answers)
    stored = customer(db)
    assert stored is not None
    assert (stored.marketing_consent, stored.consent_source) == (True, "telegram:/start")


async def test_declining_consent_records_no(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    offer = await ask(api, ANN, "/start")
    query = await api.tap(offer, "consent:no")
    await api.wait_for(lambda: query in api.callback_answers)
    stored = customer(db)
    assert stored is not None
    assert stored.marketing_consent is False
    assert stored.consent_updated_at is not None
    await api.wait_for(lambda: bool(offer.edits))
    assert "No offers" in offer.edits[-1]


async def test_free_text_is_recorded_and_acknowledged_and_edits_kept(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    sent = await api.send_text(ANN, "Do you have the blue mug in stock?")
    await api.wait_for(replies(api, ANN)(1))
    ack = api.sent_to(ANN)[0]
    assert "Thank you for your message" in ack.text
    assert ack.reply_to_message_id == sent["message_id"]

    await api.edit_text(sent, "Do you have the red mug in stock?")
    await api.wait_for(lambda: not api.pending)
    await api.wait_for(lambda: count(db, Interaction) == 3)
    inbound = interactions(db, Interaction.direction == "in")
    assert [i.body for i in inbound] == [
        "Do you have the blue mug in stock?",
        "Do you have the red mug in stock?",
    ]
    assert inbound[0].message_key == f"msg:{ANN}:{sent['message_id']}"
    assert inbound[0].conversation_id is not None and not inbound[0].automated
    assert inbound[1].message_key.startswith(f"edit:{ANN}:{sent['message_id']}:")
    assert inbound[1].in_reply_to == inbound[0].message_key
    assert len(api.sent_to(ANN)) == 1  # an edit gets no second acknowledgement


async def test_feedback_dialog_records_the_next_text_as_feedback(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    answer = await ask(api, ANN, "/feedback")
    assert "write your feedback" in answer.text
    answer = await ask(api, ANN, "Lovely shop, slow delivery though.")
    assert answer.text == "Thank you for your feedback!"
    feedback = interactions(db, Interaction.subject == "Feedback")
    assert [f.body for f in feedback] == ["Lovely shop, slow delivery though."]

    answer = await ask(api, ANN, "And another thing")
    assert "Thank you for your message" in answer.text
    assert count(db, Interaction, Interaction.subject == "Feedback") == 1


async def test_feedback_can_be_cancelled(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    await ask(api, ANN, "/feedback")
    answer = await ask(api, ANN, "/cancel")
    assert "no feedback" in answer.text
    await ask(api, ANN, "hello")
    assert count(db, Interaction, Interaction.subject == "Feedback") == 0


async def test_help_points_and_unknown_commands_answer_clearly(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    unknown = (await ask(api, ANN, "/frobnicate now")).text
    assert "don't know that command" in unknown
    assert all(f"/{c}" in unknown for c in ("start", "help", "feedback", "points", "stop"))
    assert count(db, Interaction) == 0  # a typo is not stored

    answer = await ask(api, ANN, "/help")
    assert "/feedback" in answer.text
    answer = await ask(api, ANN, "/points")
    assert answer.text == (
        "You have 0 points. Your tier: Member.\n"
        "Earn 500 more points within 12 months to reach Silver."
    )

    customer_id = customer(db).id  # type: ignore[union-attr]
    with db.transaction() as session:
        session.add(PointsEntry(customer_id=customer_id, delta=650, reason="order 1"))
        session.add(PointsEntry(customer_id=customer_id, delta=-100, reason="redeemed"))
    answer = await ask(api, ANN, "/points")
    assert answer.text == (
        "You have 550 points. Your tier: Silver.\n"
        "Earn 1,350 more points within 12 months to reach Gold."
    )


async def test_bad_input_gets_a_clear_reply_and_stores_nothing(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    answer = await ask(api, ANN, "x" * 2000)  # over max_message_chars=1000
    assert "the limit is 1,000" in answer.text

    answer = await ask(api, ANN, "broken \ud800 surrogate")
    assert "not valid Unicode" in answer.text

    answer = await ask(api, ANN, "nul \x00 inside")
    assert "NUL" in answer.text

    await api.send_sticker(ANN)
    await api.wait_for(replies(api, ANN)(4))
    assert "only read text" in api.sent_to(ANN)[3].text
    await api.send_photo(ANN)
    await api.wait_for(replies(api, ANN)(5))
    assert "only read text" in api.sent_to(ANN)[4].text

    await api.wait_for(lambda: not api.pending)
    assert count(db, Interaction) == 0
    assert count(db, Customer) == 0


async def test_odd_but_valid_unicode_and_captions_are_stored_exactly(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    odd = "שלום 👋🏽 e\u0301 zero\u200bwidth <b>not bold</b> & *stars*"
    await ask(api, ANN, odd)
    await api.send_photo(ANN, caption="this one is cracked")
    await api.wait_for(replies(api, ANN)(2))
    bodies = [i.body for i in interactions(db, Interaction.direction == "in")]
    assert bodies == [odd, "this one is cracked"]


async def test_replayed_update_stores_nothing_and_answers_nothing(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(ANN, "Ann")
    await api.send_text(ANN, "Where is my order?")
    update_id = api.last_update_id
    await api.wait_for(lambda: count(db, Interaction) == 2)  # the message and our answer

    await api.redeliver(update_id)  # as Telegram does when our ack was lost
    await api.wait_for(lambda: not api.pending)
    await api.send_text(ANN, "/help")  # a later update proves the replay was processed
    await api.wait_for(replies(api, ANN)(2))
    await api.wait_for(lambda: count(db, Interaction) >= 4)
    assert count(db, Interaction, Interaction.body == "Where is my order?") == 1
    assert count(db, Interaction) == 4  # plus only /help and its answer
    assert "/feedback" in api.sent_to(ANN)[1].text
