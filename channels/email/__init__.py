"""The email channel: outbound over SMTP, inbound by our SMTP server or IMAP.

Each inbound part is a `rapport.channels.lifecycle.Service` built by a factory
from `Settings`; a factory that cannot build its part says why in a `Disabled`,
which `rapport run` logs at start-up. Outbound mail is not a service: the one
registry (`rapport.channels.registry.OutboundChannels`) builds the
`EmailSender` when SMTP is configured and closes its connections.
"""

from __future__ import annotations

from rapport.channels.email.imap import ImapAccount, ImapPoller
from rapport.channels.email.inbound_smtp import InboundSmtpService
from rapport.channels.lifecycle import Disabled, Service
from rapport.crm.database import Database
from rapport.crm.settings import Settings


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
