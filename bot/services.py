"""Which services and channels `rapport run` and `rapport worker` host.

The factories themselves follow `rapport.channels.lifecycle`; this module
picks them and wires the bot's dialogs and staff commands into Telegram.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from rapport.channels.lifecycle import Disabled, ServiceFactory
from rapport.crm.channel import Channel
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.settings import Settings

T = TypeVar("T")

if TYPE_CHECKING:
    from rapport.channels.telegram.service import TelegramService


def channel_factories() -> list[ServiceFactory]:
    """The channel adapters' inbound service factories."""
    from rapport.channels.email import imap_service, inbound_smtp_service

    return [inbound_smtp_service, imap_service, telegram_service]


def sender_factories() -> list[ServiceFactory]:
    """Outbound-only services for `rapport worker`, which receives nothing."""
    from rapport.channels.telegram.standalone import telegram_sender_service

    return [telegram_sender_service]


def outbound_channels(settings: Settings) -> dict[str, Channel]:
    """The channels campaigns can send through with these settings, by name.

    The caller owns them: `close_channels` when done.
    """
    from rapport.channels.email import OUTBOUND_CONNECTIONS
    from rapport.channels.email.outbound import EmailSender

    channels: dict[str, Channel] = {}
    if settings.smtp_host and settings.mail_from:
        channels["email"] = EmailSender.from_settings(settings, connections=OUTBOUND_CONNECTIONS)
    return channels


async def with_channels(
    settings: Settings, work: Callable[[dict[str, Channel]], Awaitable[T]]
) -> T:
    """Run `work(channels)` with the configured outbound channels (Telegram too), closing
    them after: for one-off sends from the command line."""
    from rapport.channels.telegram.standalone import TelegramSender

    channels = outbound_channels(settings)
    telegram = TelegramSender(settings) if settings.telegram_token else None
    try:
        if telegram is not None:
            await telegram.start()
            channels["telegram"] = telegram.channel
        return await work(channels)
    finally:
        if telegram is not None:
            await telegram.stop()
        await close_channels(channels)


async def close_channels(channels: dict[str, Channel]) -> None:
    for channel in channels.values():
        close = getattr(channel, "close", None)
        if close is not None:
            await close()


def telegram_service(settings: Settings, db: Database) -> TelegramService | Disabled:
    """The factory `rapport run` calls: the customer bot with staff commands, or why it is off."""
    from rapport.bot.dialogs.customer import CustomerDialogs
    from rapport.bot.staff.registry import StaffCommands
    from rapport.channels.telegram.service import NAME, WEBHOOK_SECRET_MISSING, TelegramService

    if settings.telegram_token is None:
        return Disabled(NAME, "RAPPORT_TELEGRAM_TOKEN is not set")
    if settings.telegram_webhook_url and settings.telegram_webhook_secret is None:
        raise ConfigurationError(WEBHOOK_SECRET_MISSING)
    service = TelegramService(settings, CustomerDialogs(db, settings).handlers())
    StaffCommands(db, settings).register(service.application)  # an earlier handler group
    return service
