"""Sign-in links to the web console, sent where the member reads them.

The bot's `/login` (rapport.bot.staff.console) and the console's own "mail me
a link" form (rapport.bot.web.signin) both come here: the token is made by
rapport.crm.staff.sign_in, the link points at the console's public address
(`RAPPORT_PUBLIC_URL`, else the local web server).
"""

from __future__ import annotations

import asyncio
import logging

from rapport.crm.channel import Channel
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.messages import OutboundMessage
from rapport.crm.privacy.keys import public_base_url
from rapport.crm.settings import Settings
from rapport.crm.staff.roles import StaffView
from rapport.crm.staff.sign_in import LINK_TTL, issue_link

log = logging.getLogger(__name__)

LOGIN_PATH = "/console/login/"


def console_url(settings: Settings) -> str | None:
    """The console's address, or None when the web server is off."""
    base = public_base_url(settings)
    return None if base is None or settings.web_port == 0 else f"{base}/console/"


async def new_login_link(db: Database, settings: Settings, member: StaffView) -> str:
    """A fresh one-time sign-in link for this member (SignInRefused past the rate limit)."""
    base = public_base_url(settings)
    if base is None or settings.web_port == 0:
        raise ConfigurationError("the web console is off (RAPPORT_WEB_PORT is 0)")
    token = await asyncio.to_thread(issue_link, db, member.id)
    return f"{base}{LOGIN_PATH}{token}"


def link_text(link: str) -> str:
    minutes = int(LINK_TTL.total_seconds() // 60)
    return (
        f"Your sign-in link to the Rapport console (valid {minutes} minutes, once):\n{link}\n"
        "If you did not ask for it, ignore this message."
    )


async def mail_login_link(
    db: Database, settings: Settings, email: Channel, member: StaffView
) -> None:
    """Mail a sign-in link to the member's own address."""
    assert member.email is not None
    link = await new_login_link(db, settings, member)
    await email.send(
        member.email, OutboundMessage(text=link_text(link), subject="Sign in to Rapport")
    )
    log.info("sign-in link mailed to staff %d", member.id)
