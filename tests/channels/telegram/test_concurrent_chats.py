"""Chats side by side (issue #22): a slow or rate-limited chat holds up only itself.

The real customer bot (PTB application, dialogs, staff commands) polls the
Bot API stand-in over HTTP. A handler ahead of the dialogs can hold one
chat's updates at a gate, or fail them as if the database were away; the
other chats must be answered meanwhile, one chat's messages must reach the
CRM in the order they were written, and the offset must never confirm an
update that is not stored: the held one stays at the stand-in, and the
later ones stored meanwhile, handed out again, are not stored or answered
twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from telegram import Update
from telegram.ext import ApplicationHandlerStop, TypeHandler

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared, RapportContext
from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.lanes import chat_key
from rapport.channels.telegram.service import TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import Direction, Interaction
from tests.support.tg_helpers import bot_settings, interactions, replies

SLOW, QUICK = 6101, 6102
ORDERED, OTHERS = 6200, range(6201, 6206)
BOUND = 2.0
"""Seconds another chat's answer may take while one chat is held: generous for a busy
machine, and still far below the hold (unbounded at a gate, 3 s of `retry_after`)."""


class Gate:
    """Ahead of the dialogs: holds `chat`'s updates until `opened`, or fails them as an outage."""

    def __init__(self, chat: int) -> None:
        self.chat = chat
        self.opened = asyncio.Event()
        self.entered = asyncio.Event()
        self.outage = False
        self.jitter = 0.0
        self.seen: list[int] = []

    async def __call__(self, update: Update, context: RapportContext) -> None:
        if self.jitter:  # every chat's handler takes a random while: order must not depend on it
            await asyncio.sleep(random.uniform(0, self.jitter))
        if update.effective_chat is None or update.effective_chat.id != self.chat:
            return
        self.seen.append(update.update_id)
        self.entered.set()
        if self.outage:
            raise ConnectionRefusedError("the database server is away")
        await self.opened.wait()


async def _stop_at_outage(update: object, context: RapportContext) -> None:
    """As when the dialogs' own ingest fails: nothing after the failing handler runs."""
    if isinstance(context.error, ConnectionRefusedError):
        raise ApplicationHandlerStop


@asynccontextmanager
async def running_bot(
    api: BotApiStandIn, db: Database, outbound: OutboundChannels, gate: Gate
) -> AsyncIterator[TelegramService]:
    service = customer_bot(
        bot_settings(api), db, BotShared(outbound), poll_timeout=1, retry_delay=0.05
    )
    service.application.add_handler(TypeHandler(Update, gate), group=-100)
    service.application.add_error_handler(_stop_at_outage)
    await service.start()
    try:
        yield service
    finally:
        gate.opened.set()
        await service.stop()


@pytest.fixture
def gate() -> Gate:
    return Gate(SLOW)


@pytest.fixture
async def bot(
    api: BotApiStandIn, db: Database, outbound: OutboundChannels, gate: Gate
) -> AsyncIterator[TelegramService]:
    for chat in (SLOW, QUICK, ORDERED, *OTHERS):
        api.user(chat, "Kim")
    async with running_bot(api, db, outbound, gate) as service:
        yield service
    await outbound.close()


def stored(db: Database, text: str) -> int:
    return len(interactions(db, Interaction.direction == Direction.IN, Interaction.body == text))


async def answered_within(api: BotApiStandIn, chat: int, text: str) -> float:
    """Seconds from `chat` writing `text` to the bot's answer there."""
    before = len(api.sent_to(chat))
    started = time.monotonic()
    await api.send_text(chat, text)
    await api.wait_for(replies(api, chat)(before + 1), timeout=BOUND * 5)
    return time.monotonic() - started


async def test_a_slow_chat_holds_up_only_itself_and_is_acknowledged_only_when_stored(
    api: BotApiStandIn, bot: TelegramService, db: Database, gate: Gate
) -> None:
    await api.send_text(SLOW, "Where is my parcel?")
    held = api.last_update_id
    await asyncio.wait_for(gate.entered.wait(), 10)

    assert await answered_within(api, QUICK, "Do you open on Sunday?") < BOUND
    assert await answered_within(api, QUICK, "And on Monday?") < BOUND
    assert not gate.opened.is_set() and not api.sent_to(SLOW)
    assert stored(db, "Do you open on Sunday?") == 1
    # Stored, yet not confirmed: the offset stops below the update still in hand.
    assert held in api.pending and api.pending[-1] == api.last_update_id

    gate.opened.set()
    await api.wait_for(replies(api, SLOW)(1))
    await api.wait_for(lambda: not api.pending)
    assert stored(db, "Where is my parcel?") == 1
    # The quick chat's updates were handed out again while the slow one was held: once each.
    assert len(api.sent_to(QUICK)) == 2
    assert stored(db, "Do you open on Sunday?") == stored(db, "And on Monday?") == 1
    assert len(bot.lanes._unfinished) == len(bot._turns) == 0  # nothing left behind


async def test_a_reply_waiting_out_429s_does_not_delay_another_chat(
    api: BotApiStandIn, bot: TelegramService, db: Database, gate: Gate
) -> None:
    gate.opened.set()
    api.fail_chat(SLOW, 429, 429, 429)  # 3 s of retry_after before the answer goes
    await api.send_text(SLOW, "Is the shop open?")
    await api.wait_for(lambda: api.too_many_requests >= 1)

    assert await answered_within(api, QUICK, "Can I pay by card?") < BOUND
    assert not api.sent_to(SLOW), "the 429s were waited out before the other chat's answer"
    await api.wait_for(replies(api, SLOW)(1), timeout=15)
    await api.wait_for(lambda: not api.pending)
    assert api.too_many_requests == 3
    assert stored(db, "Is the shop open?") == stored(db, "Can I pay by card?") == 1


async def test_one_chats_messages_reach_the_crm_in_order_while_other_chats_run(
    api: BotApiStandIn, bot: TelegramService, db: Database, gate: Gate
) -> None:
    gate.opened.set()
    gate.jitter = 0.03
    for i in range(10):
        await api.send_text(ORDERED, f"note {i}")
        for other in OTHERS:
            await api.send_text(other, f"other {other} {i}")
    await api.wait_for(lambda: not api.pending, timeout=60)

    notes = [
        m.body
        for m in interactions(db, Interaction.direction == Direction.IN)
        if (m.body or "").startswith("note ")
    ]
    assert notes == [f"note {i}" for i in range(10)]  # in id order, that is commit order
    for other in OTHERS:
        for i in range(10):
            assert stored(db, f"other {other} {i}") == 1
        assert len(api.sent_to(other)) == 10
    assert len(api.sent_to(ORDERED)) == 10


async def test_an_outage_in_one_chat_holds_its_updates_unconfirmed_across_a_restart(
    api: BotApiStandIn,
    bot: TelegramService,
    db: Database,
    gate: Gate,
    outbound: OutboundChannels,
) -> None:
    gate.outage = True
    await api.send_text(SLOW, "first")
    first = api.last_update_id
    await api.send_text(SLOW, "second")
    second = api.last_update_id
    await api.wait_for(lambda: len(gate.seen) >= 3)  # tried, and tried again

    assert await answered_within(api, QUICK, "meanwhile") < BOUND
    assert set(gate.seen) == {first}, "the chat's second update went before its first"
    assert {first, second} <= set(api.pending)

    await bot.stop()  # stopped while held: nothing of the slow chat confirmed
    assert {first, second} <= set(api.pending)
    assert stored(db, "first") == stored(db, "second") == 0

    again = Gate(SLOW)
    again.opened.set()
    async with running_bot(api, db, outbound, again):
        await api.wait_for(lambda: not api.pending)
        await api.wait_for(replies(api, SLOW)(2))
    assert again.seen == [first, second]
    assert [m.body for m in interactions(db, Interaction.body.in_(["first", "second"]))] == [
        "first",
        "second",
    ]
    assert stored(db, "meanwhile") == 1 and len(api.sent_to(QUICK)) == 1


def test_the_lane_of_an_update_is_its_chat_or_else_its_sender() -> None:
    chat = {"id": 5, "type": "private"}
    assert chat_key({"update_id": 1, "message": {"chat": chat}}) == 5
    assert chat_key({"update_id": 1, "callback_query": {"message": {"chat": chat}}}) == 5
    assert chat_key({"update_id": 1, "my_chat_member": {"chat": chat}}) == 5
    assert chat_key({"update_id": 1, "inline_query": {"from": {"id": 9}}}) == ("user", 9)
    assert chat_key({"update_id": 1, "poll": {"id": "x"}}) is None
