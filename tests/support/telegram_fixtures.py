"""Fixtures for the Telegram tests: the Bot API stand-in and the running bot.

The bot is the real PTB `Application` with the customer dialogs and the staff
commands, wired by the composition root's `customer_bot` on the outbound
registry's bot (the `outbound` fixture: Telegram only; a module that needs
mail overrides it), polling the stand-in over HTTP on loopback; the database
is the shared `db` fixture, so every conversation runs on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared
from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from tests.support.tg_helpers import TOKEN, MovableClock, bot_settings


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A stand-in with limits high enough that conversations never wait."""
    async with BotApiStandIn(
        TOKEN, overall_rate=1000, overall_burst=1000, chat_rate=1000, chat_burst=1000
    ) as stand_in:
        yield stand_in


@pytest.fixture
def outbound(api: BotApiStandIn) -> OutboundChannels:
    """The bot's outbound channels, as the root builds them from these settings."""
    return OutboundChannels.from_settings(bot_settings(api))


@pytest.fixture
def wakes() -> list[int]:
    """One entry each time a handler woke the dispatcher."""
    return []


@pytest.fixture
def clock() -> MovableClock:
    """The customer dialogs' clock: real time until a test moves it on."""
    return MovableClock()


@pytest.fixture
async def service(
    api: BotApiStandIn,
    db: Database,
    outbound: OutboundChannels,
    wakes: list[int],
    clock: MovableClock,
) -> AsyncIterator[TelegramService]:
    shared = BotShared(outbound, lambda: wakes.append(1))
    running = customer_bot(
        bot_settings(api), db, shared, clock=clock, poll_timeout=1, retry_delay=0.05
    )
    await running.start()
    yield running
    await running.stop()
    await outbound.close()
