"""The Telegram service in webhook mode behind the process's one web application.

As `rapport run` wires it (rapport.bot.app): the web server built by
`web_factory` serves the webhook route, starts first, then the service tells
the stand-in its URL.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared
from rapport.bot.web import WebService, web_factory
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from tests.support.tg_helpers import bot_settings

SECRET = "s3cret-Token_1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def webhook_bot(
    api: BotApiStandIn,
    db: Database,
    path: str = "/telegram/hook",
    *,
    bot_db: Database | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[TelegramService, str]]:
    """The customer bot in webhook mode on the web app's port; yields it and its URL.

    `bot_db` is the bot's own database object when it must differ (an impatient one).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    settings = bot_settings(
        api,
        database_url=db.url,
        web_port=port,
        telegram_webhook_url=url,
        telegram_webhook_secret=SECRET,
        **overrides,
    )
    web = web_factory(settings, db)
    assert isinstance(web, WebService)
    service = customer_bot(settings, bot_db or db, BotShared())
    web.use_telegram(service)
    await web.start()
    try:
        await service.start()
        try:
            yield service, url
        finally:
            await service.stop()
    finally:
        await web.stop()
