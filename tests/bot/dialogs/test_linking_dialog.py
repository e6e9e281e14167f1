"""Linking a Telegram chat to a customer known by email, through the real parts.

The PTB application polls the Bot API stand-in; the code goes out through the
real `EmailSender` to an aiosmtpd sink on loopback, and the test reads it
from the mail as the customer would.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared
from rapport.bot.dialogs.linking import LINK_ASKED_AT
from rapport.bot.dialogs.texts import CODE_SENT, LINK_UNAVAILABLE
from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Customer, CustomerMerge, Identity, Interaction, LinkCode, PointsEntry
from rapport.crm.value.loyalty import balance
from tests.support.email_sink import Sink
from tests.support.tg_helpers import (
    MovableClock,
    ask,
    bot_settings,
    count,
    interactions,
    outbound_with_mail,
    replies,
)

ANN = 1001
ADDRESS = "ann@example.com"


@pytest.fixture
def outbound(api: BotApiStandIn, sink: Sink) -> OutboundChannels:
    """The bot's channels with mail to the sink, as the root builds them from the settings."""
    return outbound_with_mail(api, sink.port)


@pytest.fixture
def mail(service: TelegramService, sink: Sink) -> Sink:
    """Where the running bot's mail arrives."""
    return sink


def _email_customer(db: Database, points: int = 120) -> int:
    """Ann as the shop knows her: she wrote by email and has points."""
    result = ingest(
        db,
        InboundMessage("email", ADDRESS, "Ann K", "Is my order shipped?", utcnow(), "<m1@x>"),
    )
    with db.transaction() as s:
        s.add(PointsEntry(customer_id=result.customer_id, delta=points, reason="order 1"))
    return result.customer_id


def _code_from(sink: Sink, n: int = 0) -> str:
    body = sink.received[n].message.get_content()
    found = re.search(r"^\s+([0-9]{6})\s*$", body, re.MULTILINE)
    assert found is not None, body
    return found[1]


async def _say(api: BotApiStandIn, text: str) -> str:
    """Send `text` as Ann and return the bot's answer."""
    return (await ask(api, ANN, text)).text


async def _code_requested(api: BotApiStandIn, mail: Sink, db: Database) -> str:
    """Ann, known by email, asks from Telegram to link her chat; the code she is mailed."""
    _email_customer(db)
    api.user(ANN, "Ann")
    await _say(api, f"/link {ADDRESS}")
    await api.wait_for(lambda: len(mail.received) == 1)
    return _code_from(mail)


async def test_the_chat_is_linked_by_a_mailed_code_into_one_customer(
    api: BotApiStandIn,
    service: TelegramService,
    mail: Sink,
    db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    known = _email_customer(db)
    api.user(ANN, "Ann")
    assert "/link you@example.com" in await _say(api, "/start")
    with db.session() as session:
        chat = session.scalar(select(Identity.customer_id).where(Identity.channel == "telegram"))
    assert chat is not None and chat != known
    with db.transaction() as s:
        s.add(PointsEntry(customer_id=chat, delta=30, reason="welcome"))

    assert await _say(api, "/link Ann@Example.COM") == CODE_SENT
    await api.wait_for(lambda: len(mail.received) == 1)
    sent = mail.received[0]
    assert sent.rcpt_tos == [ADDRESS]
    assert sent.message["Subject"] == "Your Corner Shop link code"
    code = _code_from(mail)

    answer = await _say(api, f"/link {code}")
    assert "now linked to your account" in answer
    with db.session() as s:
        customers = s.scalars(select(Customer.id)).all()
        identities = sorted(
            s.execute(select(Identity.channel, Identity.customer_id)).all(), key=lambda r: r[0]
        )
    assert customers == [known]
    assert [tuple(r) for r in identities] == [("email", known), ("telegram", known)]
    assert balance(db, known) == 150
    assert "You have 150 points" in await _say(api, "/points")
    await api.wait_for(lambda: count(db, Interaction, Interaction.direction == "out") >= 5)
    history = interactions(db)
    assert {i.customer_id for i in history} == {known}
    assert [i.body for i in history if i.channel == "telegram" and i.direction == "in"] == [
        "/start",
        "/link Ann@Example.COM",
        "/link [code]",
        "/points",
    ]
    recorded_mail = [i for i in history if i.channel == "email" and i.direction == "out"]
    assert len(recorded_mail) == 1 and "[code]" in (recorded_mail[0].body or "")
    assert all(code not in (i.body or "") for i in history)  # the code is nowhere in clear

    # a double tap: the same code again does nothing more and says so plainly
    assert await _say(api, f"/link {code}") == "This chat is already linked to your account."
    assert count(db, Customer) == 1 and count(db, CustomerMerge) == 1
    assert balance(db, known) == 150

    ours = [r for r in caplog.records if r.name.startswith("rapport.")]
    text = "\n".join(r.getMessage() for r in ours if r.levelno >= logging.INFO)
    assert "linked to customer" in text  # the flow did log
    for secret in (ADDRESS, "Ann@Example", code, str(ANN), "Ann K"):
        assert secret not in text, secret


async def test_five_wrong_codes_kill_the_code(
    api: BotApiStandIn, service: TelegramService, mail: Sink, db: Database
) -> None:
    code = await _code_requested(api, mail, db)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    answers = [await _say(api, wrong) for _ in range(5)]  # sent bare, as people do
    assert answers[:4] == [
        f"That code is not right. You can try {k} more time(s)." for k in (4, 3, 2, 1)
    ]
    assert "can no longer be used" in answers[4]
    assert "no code waiting" in await _say(api, f"/link {code}")
    assert count(db, Customer) == 2 and count(db, CustomerMerge) == 0


async def test_an_expired_code_is_refused(
    api: BotApiStandIn,
    service: TelegramService,
    mail: Sink,
    db: Database,
    clock: MovableClock,
) -> None:
    code = await _code_requested(api, mail, db)
    clock.advance(timedelta(minutes=16))
    assert "has expired" in await _say(api, f"/link {code}")
    assert count(db, Customer) == 2 and count(db, CustomerMerge) == 0


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    api: BotApiStandIn, service: TelegramService, mail: Sink, db: Database
) -> None:
    _email_customer(db)
    api.user(ANN, "Ann")
    assert await _say(api, "/link nobody@example.com") == CODE_SENT
    assert "/feedback" in await _say(api, "/help")  # the /link update was handled in full
    assert mail.received == []
    assert count(db, LinkCode) == 1  # it counts against the chat's limits all the same
    bad = await _say(api, "/link not-an-address")
    assert bad == "That does not look like an email address. Send e.g. /link you@example.com."
    assert count(db, LinkCode) == 1


async def test_without_email_sending_linking_says_it_is_unavailable(
    api: BotApiStandIn, db: Database
) -> None:
    settings = bot_settings(api)  # no SMTP: the registry has Telegram only
    shared = BotShared(OutboundChannels.from_settings(settings))
    service = customer_bot(settings, db, shared, poll_timeout=1, retry_delay=0.05)
    await service.start()
    try:
        _email_customer(db)
        api.user(ANN, "Ann")
        assert await _say(api, f"/link {ADDRESS}") == LINK_UNAVAILABLE
        assert count(db, LinkCode) == 0
    finally:
        await service.stop()


async def test_a_bare_number_long_after_the_request_is_an_ordinary_message(
    api: BotApiStandIn, service: TelegramService, mail: Sink, db: Database
) -> None:
    await _code_requested(api, mail, db)
    chat_data = service.application.chat_data[ANN]
    chat_data[LINK_ASKED_AT] -= 16 * 60  # the code's lifetime has passed
    assert "Thank you for your message" in await _say(api, "204518")  # an order number
    stored = interactions(db, Interaction.body == "204518")
    assert len(stored) == 1 and stored[0].conversation_id is not None


async def test_an_edited_code_is_stored_masked_and_is_not_a_try(
    api: BotApiStandIn, service: TelegramService, mail: Sink, db: Database
) -> None:
    code = await _code_requested(api, mail, db)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    typo = await api.send_text(ANN, wrong)
    await api.wait_for(replies(api, ANN)(2))
    await api.edit_text(typo, code)
    await api.wait_for(lambda: count(db, Interaction, Interaction.message_key.like("edit:%")) == 1)
    assert [i.body for i in interactions(db, Interaction.message_key.like("edit:%"))] == ["[code]"]
    assert all(code not in (i.body or "") for i in interactions(db))
    assert "now linked" in await _say(api, code)  # an edit is stored, not tried
