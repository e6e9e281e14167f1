"""Customer text is data, never markup, in what staff read on Telegram (issue 19, item 3).

Every message to staff goes out without a parse mode, so a name like
`[/i]<b>Zoe</b> & co` or a body full of tags reaches the agent exactly as the
customer wrote it, and nothing a customer types can fail a send with "can't
parse entities" (the stand-in refuses bad HTML as Telegram does).
"""

from __future__ import annotations

from rapport.bot.staff.desk_round import announce_new, forward_new
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.staff.audit import Actor
from rapport.crm.staff.roles import add_staff
from tests.support.tg_helpers import replies

AGENT, CUSTOMER = 9001, 5005
NAME = "[/i]<b>Zoe</b> & co"
BODY = "[bold]Hi[/bold] <i>there</i> &amp; <script>x</script> [/b]"


async def test_names_and_bodies_reach_staff_verbatim_without_parse_mode(
    api: BotApiStandIn, service: TelegramService, db: Database
) -> None:
    api.user(AGENT, "Ada")
    add_staff(db, Actor(label="cli:test"), name="Agent Ada", role="agent", telegram_user_id=AGENT)
    api.user(CUSTOMER, NAME)
    await api.send_text(CUSTOMER, BODY)
    await api.wait_for(replies(api, CUSTOMER)(1))
    bot = service.application.bot
    assert await announce_new(bot, db, service.settings) == 1
    await api.send_text(CUSTOMER, "<b>second</b> [/i]")
    await api.wait_for(replies(api, CUSTOMER)(2))
    assert await forward_new(bot, db, service.settings) == 1
    await api.send_text(AGENT, "/conversation 1")
    await api.wait_for(replies(api, AGENT)(3))
    await api.send_text(AGENT, "/customer 1")
    await api.wait_for(replies(api, AGENT)(4))

    announcement, forward, thread, profile = api.sent_to(AGENT)
    assert f"new from {NAME} (customer #1)" in announcement.text
    assert BODY in announcement.text
    assert f"{NAME} writes:\n<b>second</b> [/i]" in forward.text
    assert BODY in thread.text and NAME in profile.text
    assert {m.parse_mode for m in api.sent_to(AGENT)} == {None}
