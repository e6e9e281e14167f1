"""The email channel: outbound over SMTP, inbound by our SMTP server or IMAP.

Each part is a `rapport.channels.lifecycle.Service` built by a factory from `Settings`;
a factory that cannot build its part says why in a `Disabled`, which
`rapport run` logs at start-up.
"""

from __future__ import annotations

from rapport.channels.email.imap import ImapAccount, ImapPoller
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.channels.email.outbound import EmailSender
from rapport.channels.lifecycle import Disabled, Service
from rapport.crm.database import Database
from rapport.crm.settings import Settings

OUTBOUND_CONNECTIONS = 4
"""Connections per sender: about 1,700 mails/s on loopback versus 950 on one."""


class OutboundEmailService:
    """Owns the long-lived `EmailSender` so its connections close on shutdown.

    The campaign dispatcher takes `.sender` (the `rapport.crm.channel.Channel`).
    """

    name = "email-outbound"

    def __init__(self, sender: EmailSender) -> None:
        self.sender = sender

    async def start(self) -> None:
        """Nothing to do: connections open on first send, so a relay that is
        briefly down does not stop Rapport from starting."""

    async def stop(self) -> None:
        await self.sender.close()


def inbound_smtp_service(settings: Settings, db: Database) -> Service | Disabled:
    if settings.inbound_smtp_port == 0:
        return Disabled(InboundSmtpService.name, "RAPPORT_INBOUND_SMTP_PORT is 0")
    return InboundSmtpService(
        db,
        settings.inbound_smtp_host,
        settings.inbound_smtp_port,
        max_chars=settings.max_message_chars,
        soft_bounce_limit=settings.soft_bounce_limit,
    )


def imap_service(settings: Settings, db: Database) -> Service | Disabled:
    if not settings.imap_host:
        return Disabled(ImapPoller.name, "RAPPORT_IMAP_HOST is not set")
    if not settings.imap_username or settings.imap_password is None:
        return Disabled(
            ImapPoller.name, "RAPPORT_IMAP_USERNAME and RAPPORT_IMAP_PASSWORD must be set"
        )
    account = ImapAccount(
        host=settings.imap_host,
        port=settings.imap_port,
        username=settings.imap_username,
        password=settings.imap_password.get_secret_value(),
        folder=settings.imap_folder,
    )
    return ImapPoller(
        db,
        account,
        max_chars=settings.max_message_chars,
        soft_bounce_limit=settings.soft_bounce_limit,
    )


def outbound_service(settings: Settings, db: Database) -> Service | Disabled:
    if not settings.smtp_host:
        return Disabled(OutboundEmailService.name, "RAPPORT_SMTP_HOST is not set")
    if not settings.mail_from:
        return Disabled(OutboundEmailService.name, "RAPPORT_MAIL_FROM is not set")
    return OutboundEmailService(
        EmailSender.from_settings(settings, connections=OUTBOUND_CONNECTIONS)
    )


FACTORIES = (inbound_smtp_service, imap_service, outbound_service)
