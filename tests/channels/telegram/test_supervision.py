"""Telegram that never goes silent (issue 19, problem 1 and the must-show items).

The real PTB application polls the Bot API stand-in over HTTP. An update the
library cannot parse, a handler that raises, a polling connection cut again
and again, a getUpdates answer that is not a list: the bot keeps answering
the other chats within seconds, what failed is in the dead-letter list
(`rapport telegram failed`) and the health view (`rapport health`) shows it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import TypeHandler

from rapport.bot.app import customer_bot
from rapport.bot.context import BotShared, RapportContext
from rapport.bot.runner import run
from rapport.channels.registry import OutboundChannels
from rapport.channels.supervision import Supervisor, TaskGaveUp
from rapport.channels.telegram.service import POLLING_TASK, TelegramService
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.operations.dead_letters import DEAD, dead_letters
from rapport.crm.operations.health import task_states
from tests.support.tg_helpers import bot_settings

BAD, GOOD, OTHER = 801, 802, 803

UNPARSEABLE_TAP = {
    "callback_query": {
        "id": "77",
        "data": "5",
        "message": {"message_id": 1, "date": 0, "chat": {"id": BAD, "type": "private"}},
    }
}
"""A callback query without `from` and `chat_instance`: PTB raises TypeError parsing it."""


async def _raise_for_bad_chat(update: Update, context: RapportContext) -> None:
    if update.effective_chat is not None and update.effective_chat.id == BAD:
        raise RuntimeError("a bug in a handler")


@pytest.fixture
async def sturdy(
    api: BotApiStandIn, db: Database, outbound: OutboundChannels
) -> AsyncIterator[TelegramService]:
    """The customer bot with quick restarts and retries, and a handler that raises for BAD."""
    service = customer_bot(
        bot_settings(api),
        db,
        BotShared(outbound),
        supervisor=Supervisor(db, first_delay=0.05),
        poll_timeout=1,
        retry_delay=0.05,
        max_attempts=2,
        first_retry=timedelta(milliseconds=50),
    )
    service.application.add_handler(TypeHandler(Update, _raise_for_bad_chat), group=-10)
    await service.start()
    yield service
    await service.stop()
    await outbound.close()


def _rapport(db_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update({"RAPPORT_DATABASE_URL": db_url, "COLUMNS": "250"})
    return subprocess.run(
        [sys.executable, "-m", "rapport.bot", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_a_bad_update_and_a_raising_handler_leave_the_others_answered(
    api: BotApiStandIn, sturdy: TelegramService, db: Database, db_url: str, tmp_path: Path
) -> None:
    for chat in (BAD, GOOD, OTHER):
        api.user(chat, "Zoe")
    await api.push_raw(UNPARSEABLE_TAP)
    await api.send_text(BAD, "My secret complaint")
    await api.send_text(GOOD, "/help")
    await api.wait_for(lambda: len(api.sent_to(GOOD)) == 1, timeout=10)
    await api.send_text(OTHER, "/help")  # and the chats after them too
    await api.wait_for(lambda: len(api.sent_to(OTHER)) == 1, timeout=10)

    await api.wait_for(lambda: len(dead_letters(db, state=DEAD)) == 2, timeout=30)
    letters = {d.kind: d for d in dead_letters(db)}
    assert set(letters) == {"unparseable", "message"}
    assert letters["unparseable"].attempts == 1  # parsing again cannot help
    assert letters["unparseable"].error.startswith("TypeError")
    assert letters["message"].attempts == 2  # tried again, then given up
    assert letters["message"].error == "RuntimeError: a bug in a handler"
    assert "My secret complaint" not in letters["message"].raw  # redacted
    assert '"text": "<19 chars>"' in letters["message"].raw
    # The dialogs' own handler ran (and stored) once; retrying the update did not repeat it.
    assert len(api.sent_to(BAD)) == 1
    await api.wait_for(lambda: not api.pending, timeout=10)  # every update acknowledged

    health = await asyncio.to_thread(_rapport, db_url, tmp_path, "health")
    assert health.returncode == 0, health.stderr
    assert POLLING_TASK in health.stdout and "running" in health.stdout
    assert "Failed updates: 2 dead, 0 being retried" in health.stdout
    failed = await asyncio.to_thread(_rapport, db_url, tmp_path, "telegram", "failed", "--raw")
    assert failed.returncode == 0, failed.stderr
    assert "unparseable" in failed.stdout and "RuntimeError: a bug in a handler" in failed.stdout
    assert "My secret complaint" not in failed.stdout


async def test_polling_recovers_from_cut_connections_and_garbage_answers(
    api: BotApiStandIn, sturdy: TelegramService, db: Database
) -> None:
    api.user(GOOD, "Gil")
    for round_ in range(3):
        api.dropped_polls = 2  # the connection dies mid-request, twice
        api.garbled_polls = 1  # then an answer that is not a list: the task itself fails
        await api.send_text(GOOD, "/help")
        await api.wait_for(lambda n=round_: len(api.sent_to(GOOD)) == n + 1, timeout=20)
    # A garbage answer on a connection just cut may reach the client as a network error
    # instead (retried in the loop); the others made the task fail and be restarted.
    restarts = sturdy.supervisor.restarts[POLLING_TASK]
    assert 1 <= restarts <= 3
    [polling] = [t for t in task_states(db) if t.name == POLLING_TASK]
    assert polling.state == "running" and polling.restarts == restarts
    assert polling.last_error == "TypeError: getUpdates answered str, not a list"


async def test_an_empty_answer_at_once_does_not_spin_the_idle_loop(
    api: BotApiStandIn, sturdy: TelegramService
) -> None:
    api.user(GOOD, "Gil")
    api.instant_polls = True  # a proxy that ignores the long-poll timeout
    before = api.calls.get("getupdates", 0)
    await asyncio.sleep(1.0)  # a window to count polls in (a spinning loop makes thousands)
    assert api.calls.get("getupdates", 0) - before < 20
    await api.send_text(GOOD, "/help")  # and it still answers
    await api.wait_for(lambda: len(api.sent_to(GOOD)) == 1, timeout=10)


async def test_a_task_that_cannot_go_on_makes_rapport_run_exit_non_zero(
    api: BotApiStandIn, db_url: str
) -> None:
    settings = bot_settings(api, database_url=db_url, inbound_smtp_port=0, web_port=0)
    api.fail_next("getUpdates", 401)  # the token refused while polling
    with pytest.raises(TaskGaveUp, match="telegram-polling"):
        await asyncio.wait_for(run(settings, stop=asyncio.Event()), 60)
    database = Database(db_url)
    try:
        [polling] = [t for t in task_states(database) if t.name == POLLING_TASK]
    finally:
        database.dispose()
    assert polling.state == "failed"
