"""`/login`: a one-time link to the web console, in the member's private chat.

Sent to the member's own chat even when asked in the staff group (a link is a
key), and also by mail when the member has an address and mail is on.
"""

from __future__ import annotations

import logging

from rapport.bot.console_links import link_text, mail_login_link, new_login_link
from rapport.bot.staff.kit import Call, Commands, StaffCommand, say
from rapport.crm.channel import DeliveryFailure

log = logging.getLogger(__name__)


async def login_command(cmds: Commands, call: Call) -> None:
    member = call.member
    link = await new_login_link(cmds.db, cmds.settings, member)
    private = member.telegram_user_id
    if private is not None:
        await say(call.bot, private, link_text(link))
    where = "your private chat with me"
    email = call.outbound.get("email")
    if member.email and email is not None:
        try:
            await mail_login_link(cmds.db, cmds.settings, email, member)
            where += " and your email"
        except DeliveryFailure as exc:
            log.warning("sign-in link not mailed: %s", type(exc).__name__)
    if private != call.chat_id:
        await say(call.bot, call.chat_id, f"Sign-in link sent to {where}.")


CONSOLE_COMMANDS = (
    StaffCommand(
        "login",
        None,
        "",
        "a one-time link to sign in to the web console (valid 10 minutes)",
        login_command,
    ),
)
