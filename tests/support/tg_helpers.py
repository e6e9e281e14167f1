"""Helpers shared by the Telegram tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.testing import BotApiStandIn, SentMessage
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.models import Customer, Interaction
from rapport.crm.settings import Settings, load_settings

TOKEN = "123456:TEST-token"


class MovableClock:
    """Real time plus an offset a test moves forward: a `Clock` for the running bot."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


def bot_settings(api: BotApiStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_token": TOKEN,
        "telegram_api_url": api.base_url,
        "telegram_overall_rate": 30,
        "telegram_chat_rate": 30,
        "max_message_chars": 1000,
        "business_name": "Corner Shop",
    }
    values.update(overrides)
    return load_settings(**values)


def count(db: Database, model: type, *where: Any) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def interactions(db: Database, *where: Any) -> list[Interaction]:
    with db.session() as session:
        return list(session.scalars(select(Interaction).where(*where).order_by(Interaction.id)))


def customer(db: Database) -> Customer | None:
    with db.session() as session:
        return session.scalar(select(Customer))


def replies(api: BotApiStandIn, chat_id: int) -> Callable[[int], Callable[[], bool]]:
    """`replies(api, chat)(n)` is a predicate: the bot has sent at least n messages there."""
    return lambda n: lambda: len(api.sent_to(chat_id)) >= n


async def ask(api: BotApiStandIn, chat_id: int, text: str) -> SentMessage:
    """Send `text` into the chat and return the bot's next message there."""
    before = len(api.sent_to(chat_id))
    await api.send_text(chat_id, text)
    await api.wait_for(lambda: len(api.sent_to(chat_id)) > before)
    return api.sent_to(chat_id)[-1]


def outbound_with_mail(api: BotApiStandIn, smtp_port: int) -> OutboundChannels:
    """Both outbound channels, mail to a sink on loopback, as the root builds them."""
    return OutboundChannels.from_settings(
        bot_settings(
            api,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_tls="none",
            mail_from="shop@example.com",
        )
    )
