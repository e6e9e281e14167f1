"""Acknowledged only after commit: a crash re-delivers, and nothing is doubled.

The crash is real: `rapport run` runs as its own process against the
stand-in and the database; the test holds a write lock on the database so
ingest blocks after the update was received, kills the process with SIGKILL,
then starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

from rapport.bot.app import build_app, customer_bot
from rapport.bot.context import BotShared
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.models import Interaction
from tests.support.db_locks import impatient_database, write_lock
from tests.support.tg_helpers import TOKEN, bot_settings, count, interactions

CAROL = 4004
ROOT = Path(__file__).resolve().parents[3]


async def start_rapport(
    api: BotApiStandIn, db_url: str, tmp_path: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAPPORT_DATABASE_URL": db_url,
        "RAPPORT_TELEGRAM_TOKEN": TOKEN,
        "RAPPORT_TELEGRAM_API_URL": api.base_url,
        "RAPPORT_TELEGRAM_CHAT_RATE": "30",
        "RAPPORT_INBOUND_SMTP_PORT": "0",  # not the bot's part, and 2525 may be someone else's
        "RAPPORT_WEB_PORT": "0",
    }
    polls = api.calls.get("getupdates", 0)
    log = (tmp_path / "rapport.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rapport.bot", "run", cwd=tmp_path, env=env,
        stdout=log, stderr=log,
    )  # fmt: skip
    log.close()
    await api.wait_for(lambda: api.calls.get("getupdates", 0) > polls, timeout=30)
    return process


async def test_crash_between_receive_and_commit_redelivers_without_doubling(
    api: BotApiStandIn, db: Database, db_url: str, tmp_path: Path
) -> None:
    if not db_url.startswith("sqlite"):
        # Two process starts take ~10 s; the database's part (the lock, the
        # failed store, the retry) runs on PostgreSQL in the next test, and
        # tests/crm/interactions/test_ingest_crash.py kills `rapport run` under traffic on both.
        pytest.skip("this process-kill test runs on SQLite; test_ingest_crash covers both")
    api.user(CAROL, "Carol")
    rapport = await start_rapport(api, db_url, tmp_path)
    try:
        with write_lock(db_url):
            await api.send_text(CAROL, "My parcel arrived broken")
            update_id = api.last_update_id
            await api.wait_for(lambda: update_id in api.handed_out)  # received by the bot...
            await asyncio.sleep(0.5)  # ...and stuck in ingest behind our lock
            rapport.send_signal(signal.SIGKILL)
            await rapport.wait()
        assert count(db, Interaction) == 0  # nothing committed
        assert api.pending == [update_id]  # and nothing acknowledged
        assert api.sent_to(CAROL) == []

        rapport = await start_rapport(api, db_url, tmp_path)
        await api.wait_for(lambda: len(api.sent_to(CAROL)) == 1, timeout=30)
        await api.redeliver(update_id)  # a duplicate delivery after the commit
        await api.send_text(CAROL, "/help")
        await api.wait_for(lambda: len(api.sent_to(CAROL)) == 2, timeout=30)
        await api.wait_for(lambda: count(db, Interaction) == 4)
        bodies = [i.body for i in interactions(db, Interaction.direction == "in")]
        assert bodies == ["My parcel arrived broken", "/help"]
        assert "Thank you for your message" in api.sent_to(CAROL)[0].text
        logged = (tmp_path / "rapport.log").read_text()
        assert "telegram: on" in logged  # INFO logging was on...
        for secret in (TOKEN, "My parcel arrived broken", str(CAROL)):
            assert secret not in logged  # ...and held no token, text or chat id
    finally:
        if rapport.returncode is None:
            rapport.kill()
            await rapport.wait()


async def test_an_update_that_fails_to_store_is_held_back_and_retried(
    api: BotApiStandIn, db: Database, db_url: str
) -> None:
    api.user(CAROL, "Carol")
    impatient = impatient_database(db_url)
    settings = bot_settings(api)
    service = customer_bot(settings, impatient, BotShared(), poll_timeout=1, retry_delay=0.02)
    await service.start()
    try:
        with write_lock(db_url):
            await api.send_text(CAROL, "Still waiting for my refund")
            update_id = api.last_update_id
            polls = api.calls.get("getupdates", 0)
            # more failed tries than MAX_ATTEMPTS: an outage never makes us skip
            await api.wait_for(lambda: api.calls.get("getupdates", 0) >= polls + 6, timeout=60)
            assert api.pending == [update_id]  # failed, so not acknowledged
            assert api.sent_to(CAROL) == []
        await api.wait_for(lambda: len(api.sent_to(CAROL)) == 1, timeout=60)
        await api.wait_for(lambda: not api.pending, timeout=60)
        assert count(db, Interaction, Interaction.direction == "in") == 1
    finally:
        await service.stop()
        impatient.dispose()


async def test_the_root_says_why_telegram_is_off_and_refuses_a_webhook_without_secret(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from rapport.crm.settings import load_settings

    caplog.set_level(logging.INFO, logger="rapport.bot.app")
    off = build_app(load_settings(database_url=db_url, telegram_token=None, inbound_smtp_port=0))
    await off.stop()
    assert off.telegram is None
    assert "telegram: off (RAPPORT_TELEGRAM_TOKEN is not set)" in caplog.text
    with pytest.raises(ConfigurationError, match="RAPPORT_TELEGRAM_WEBHOOK_SECRET"):
        build_app(
            load_settings(
                database_url=db_url,
                telegram_token=TOKEN,
                telegram_webhook_url="https://x.example/hook",
                inbound_smtp_port=0,
            )
        )
    with pytest.raises(ConfigurationError, match="RAPPORT_TELEGRAM_WEBHOOK_SECRET"):
        load_settings(telegram_webhook_secret="has spaces")
