"""Which email services `rapport run` starts, and why the others stay off."""

from __future__ import annotations

from rapport.bot.app import INBOUND_MAIL
from rapport.channels.email import imap_service, inbound_smtp_service
from rapport.channels.email.imap import ImapPoller
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.channels.email.outbound import EmailSender
from rapport.channels.lifecycle import Disabled
from rapport.channels.registry import OutboundChannels
from rapport.crm.database import Database
from rapport.crm.settings import load_settings


def test_email_factories_are_registered() -> None:
    for factory in (inbound_smtp_service, imap_service):
        assert factory in INBOUND_MAIL


async def test_campaigns_send_email_only_when_smtp_is_configured() -> None:
    assert "email" not in OutboundChannels.from_settings(load_settings(telegram_token=None))
    configured = load_settings(
        smtp_host="127.0.0.1", mail_from="shop@example.com", telegram_token=None
    )
    async with OutboundChannels.from_settings(configured) as channels:
        assert isinstance(channels["email"], EmailSender)
        assert "email" in channels.names


def test_defaults_start_only_the_inbound_smtp_server(db: Database) -> None:
    settings = load_settings()
    built = {f.__name__: f(settings, db) for f in (inbound_smtp_service, imap_service)}
    assert isinstance(built["inbound_smtp_service"], InboundSmtpService)
    assert built["imap_service"] == Disabled("email-imap", "RAPPORT_IMAP_HOST is not set")
    assert "email" not in OutboundChannels.from_settings(settings)


def test_imap_needs_credentials(db: Database) -> None:
    no_login = imap_service(load_settings(imap_host="127.0.0.1"), db)
    assert isinstance(no_login, Disabled)
    assert "RAPPORT_IMAP_USERNAME" in no_login.reason
    ready = load_settings(imap_host="127.0.0.1", imap_username="u", imap_password="p")
    assert isinstance(imap_service(ready, db), ImapPoller)


async def test_outbound_needs_a_from_address() -> None:
    no_from = OutboundChannels.from_settings(load_settings(smtp_host="127.0.0.1"))
    assert "email" not in no_from
    ready = OutboundChannels.from_settings(
        load_settings(smtp_host="127.0.0.1", mail_from="shop@example.com", smtp_tls="none")
    )
    async with ready:
        assert ready.email is not None
        assert ready.email.name == "email"
        assert ready.email.renderer.mail_from == "shop@example.com"
