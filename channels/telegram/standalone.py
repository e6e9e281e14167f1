"""Telegram for a process that only sends (`rapport worker`): no polling, no webhook."""

from __future__ import annotations

from rapport.channels.lifecycle import Disabled
from rapport.channels.telegram.outbound import TelegramChannel
from rapport.channels.telegram.service import build_application
from rapport.crm.database import Database
from rapport.crm.settings import Settings


class TelegramSender:
    """Owns a PTB application without handlers, for its rate-limited bot."""

    name = "telegram-outbound"

    def __init__(self, settings: Settings) -> None:
        self.application = build_application(settings, [])
        self.channel = TelegramChannel(self.application.bot)

    async def start(self) -> None:
        await self.application.initialize()

    async def stop(self) -> None:
        await self.application.shutdown()


def telegram_sender_service(settings: Settings, db: Database) -> TelegramSender | Disabled:
    if settings.telegram_token is None:
        return Disabled("telegram-outbound", "RAPPORT_TELEGRAM_TOKEN is not set")
    return TelegramSender(settings)
