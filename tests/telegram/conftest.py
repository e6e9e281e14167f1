"""Fixtures for the Telegram tests: the Bot API stand-in and the running bot.

The bot is the real PTB `Application` with the customer dialogs and the staff
commands (wired as `telegram_service` wires them), polling the
stand-in over HTTP on loopback; the database is the shared `db` fixture, so
every conversation runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tg_helpers import TOKEN, MovableClock, bot_settings

from rapport.bot.dialogs.customer import CustomerDialogs
from rapport.bot.staff.registry import StaffCommands
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A stand-in with limits high enough that conversations never wait."""
    async with BotApiStandIn(
        TOKEN, overall_rate=1000, overall_burst=1000, chat_rate=1000, chat_burst=1000
    ) as stand_in:
        yield stand_in


@pytest.fixture
def clock() -> MovableClock:
    """The customer dialogs' clock: real time until a test moves it on."""
    return MovableClock()


@pytest.fixture
async def service(
    api: BotApiStandIn, db: Database, clock: MovableClock
) -> AsyncIterator[TelegramService]:
    settings = bot_settings(api)
    dialogs = CustomerDialogs(db, settings, clock=clock)
    running = TelegramService(settings, dialogs.handlers(), poll_timeout=1, retry_delay=0.05)
    StaffCommands(db, settings).register(running.application)
    await running.start()
    yield running
    await running.stop()
