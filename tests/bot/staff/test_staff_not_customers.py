"""Staff are never customers; a failing staff command says what failed, once (problems 5, 6).

The real PTB application with the staff commands, against the stand-in, with
no staff group configured (each agent works in their own chat with the bot).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rapport.bot.staff.desk_round import announce_new
from rapport.bot.staff.guard import STAFF_CHAT_TEXT
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import AuditEvent, Conversation, Customer, Interaction
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff
from tests.support.programme_fixtures import seed_programme
from tests.support.tg_helpers import count, replies

AGENT, MANAGER, CUSTOMER = 9001, 9002, 5005
CUSTOMER_HELP = "Sorry, I don't know that command."


@pytest.fixture
def staff(api: BotApiStandIn, db: Database) -> None:
    actor = Actor(label="cli:test")
    api.user(AGENT, "Ada")
    api.user(MANAGER, "Max")
    add_staff(db, actor, name="Agent Ada", role="agent", telegram_user_id=AGENT)
    add_staff(db, actor, name="Manager Max", role="manager", telegram_user_id=MANAGER)


def _audit_rows(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)) or 0


async def test_an_agents_own_chat_is_never_a_customer_chat(
    api: BotApiStandIn, service: TelegramService, db: Database, staff: None
) -> None:
    assert service.settings.staff_chat_id is None
    await api.send_text(AGENT, "testing the bot, is this thing on?")
    await api.wait_for(replies(api, AGENT)(1))
    assert api.sent_to(AGENT)[0].text == STAFF_CHAT_TEXT
    await api.send_text(AGENT, "/points")  # not a staff command: no customer help either
    await api.wait_for(replies(api, AGENT)(2))
    assert api.sent_to(AGENT)[1].text == "/points is not a staff command; /help lists yours."
    await api.wait_for(lambda: not api.pending)

    assert count(db, Customer) == 0 and count(db, Interaction) == 0
    assert count(db, Conversation) == 0
    assert await announce_new(service.application.bot, db, service.settings) == 0
    assert len(api.sent_to(AGENT)) == 2  # nothing announced back to her

    api.user(CUSTOMER, "Carl")  # a customer is still a customer
    await api.send_text(CUSTOMER, "Do you ship to Malta?")
    await api.wait_for(lambda: count(db, Conversation) == 1)


async def test_a_command_that_fails_on_telegram_says_so_and_its_effects_happen_once(
    api: BotApiStandIn, service: TelegramService, db: Database, staff: None
) -> None:
    await seed_programme(db)
    audited = _audit_rows(db)
    api.fail_next("sendDocument", 502, times=10)  # Telegram keeps refusing the document
    await api.send_text(MANAGER, "/export campaigns")
    update_id = api.last_update_id
    await api.wait_for(replies(api, MANAGER)(1))
    answer = api.sent_to(MANAGER)[0].text
    assert answer.startswith("/export failed: Telegram did not take the answer"), answer
    assert CUSTOMER_HELP not in answer and "/points" not in answer
    await api.wait_for(lambda: not api.pending)  # done: not failed for a retry
    assert _audit_rows(db) == audited + 1  # the export was made (and audited) once

    api.failures.clear()
    await api.redeliver(update_id)  # Telegram delivers it again (a lost acknowledgement)
    await api.send_text(MANAGER, "/whoami")
    await api.wait_for(replies(api, MANAGER)(2))
    assert "role manager" in api.sent_to(MANAGER)[1].text  # the redelivery did nothing
    assert _audit_rows(db) == audited + 1
    assert [m.kind for m in api.sent_to(MANAGER)] == ["text", "text"]


async def test_a_chart_refused_with_429_is_sent_once_after_the_wait(
    api: BotApiStandIn, service: TelegramService, db: Database, staff: None
) -> None:
    await seed_programme(db)
    api.fail_next("sendPhoto", 429)  # "retry after 1": the rate limiter waits and sends again
    await api.send_text(MANAGER, "/chart participation")
    await api.wait_for(replies(api, MANAGER)(1), timeout=30)
    await api.wait_for(lambda: not api.pending)
    assert [m.kind for m in api.sent_to(MANAGER)] == ["photo"]
