"""What `rapport run` hosts: long-running services, each enabled by settings.

A service factory looks at the settings and either builds its service or
says, in words, why it stays off ("RAPPORT_TELEGRAM_TOKEN is not set"), so the
operator sees at start-up exactly which channels are live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from crm.channel import Channel
from crm.database import Database
from crm.settings import Settings


class Service(Protocol):
    """Something with a lifetime: started once, stopped once, in reverse order."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Disabled:
    name: str
    reason: str


ServiceFactory = Callable[[Settings, Database], "Service | Disabled"]


def channel_factories() -> list[ServiceFactory]:
    """The channel adapters' inbound service factories."""
    from channels.email import imap_service, inbound_smtp_service
    from channels.telegram.service import telegram_service

    return [inbound_smtp_service, imap_service, telegram_service]


def sender_factories() -> list[ServiceFactory]:
    """Outbound-only services for `rapport worker`, which receives nothing."""
    from channels.telegram.standalone import telegram_sender_service

    return [telegram_sender_service]


def outbound_channels(settings: Settings) -> dict[str, Channel]:
    """The channels campaigns can send through with these settings, by name.

    The caller owns them: `close_channels` when done.
    """
    from channels.email import OUTBOUND_CONNECTIONS
    from channels.email.outbound import EmailSender

    channels: dict[str, Channel] = {}
    if settings.smtp_host and settings.mail_from:
        channels["email"] = EmailSender.from_settings(settings, connections=OUTBOUND_CONNECTIONS)
    return channels


async def close_channels(channels: dict[str, Channel]) -> None:
    for channel in channels.values():
        close = getattr(channel, "close", None)
        if close is not None:
            await close()
