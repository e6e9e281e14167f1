"""`/login` through the real PTB application and the Bot API stand-in."""

from __future__ import annotations

import re

from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff
from rapport.crm.staff.sign_in import LINKS_PER_WINDOW, SignInRefused, redeem_link
from tests.support.tg_helpers import ask

ADA, STRANGER = 7001, 7002
LINK = re.compile(r"https?://\S+/console/login/(\S+)")


async def test_login_sends_a_working_link_to_the_members_own_chat(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    add_staff(db, Actor("cli:test"), name="Ada", role="agent", telegram_user_id=ADA)
    api.user(ADA, "Ada")
    await api.send_text(ADA, "/login")
    await api.wait_for(lambda: api.sent_to(ADA))
    [private] = api.sent_to(ADA)
    found = LINK.search(private.text)
    assert found is not None and "valid 10 minutes" in private.text
    assert redeem_link(db, found.group(1)).member.id is not None
    try:
        redeem_link(db, found.group(1))
        raise AssertionError("a link worked twice")
    except SignInRefused as exc:
        assert "used already" in str(exc)

    for _ in range(LINKS_PER_WINDOW - 1):
        await ask(api, ADA, "/login")
    assert "is the limit" in (await ask(api, ADA, "/login")).text

    api.user(STRANGER, "Eve")
    await api.send_text(STRANGER, "/login")
    await api.wait_for(lambda: api.sent_to(STRANGER))
    assert "/console/login/" not in api.sent_to(STRANGER)[-1].text
