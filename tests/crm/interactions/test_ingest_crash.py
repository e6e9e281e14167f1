"""`rapport run` killed (SIGKILL) at random moments while customers write in.

Mail arrives at Rapport's SMTP server from a sender that, like any MTA,
tries again until it gets a 250; Telegram messages wait at the Bot API
stand-in until Rapport confirms them. The process is killed twice at random
moments under that steady traffic (which goes on throughout) and started again each time. At the end
every message must be in the database exactly once: acknowledged only after
commit (so nothing is lost), idempotent on its message key (so a message
stored but not acknowledged before the kill is not stored twice when it
comes again). Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from benchmarks.traffic import MailFeeder, TelegramFeeder, Traffic
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.models import Direction, Interaction
from tests.support.scale_fixtures import app_env, start_process, stop_processes

TOKEN = "123456:TEST-token"
RATE = 20.0  # messages/s, both channels together
KILLS = 2
AFTER_LAST_START = 1.0  # seconds of traffic after the last restart
TOKEN_IN_TEXT = re.compile(r"\[(m\d+)\]")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def wait_running(log: Path, starts: int) -> None:
    for _ in range(6000):
        if log.exists() and log.read_text().count("Rapport is running") >= starts:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"rapport did not start:\n{log.read_text()[-3000:]}")


async def feed(mail: MailFeeder, telegram: TelegramFeeder, stop: asyncio.Event) -> int:
    """Messages at RATE, alternating channels, until `stop`; returns once all are acknowledged."""
    deliveries: list[asyncio.Task[object]] = []
    i = 0
    while not stop.is_set():
        token = f"m{i}"
        if i % 2:
            await telegram.send(90_000 + i % 20, "Where is my order?", token)
        else:
            coro = mail.send(f"c{i % 20}@customers.example", "Where is my order?", token)
            deliveries.append(asyncio.create_task(coro))
        i += 1
        await asyncio.sleep(1 / RATE)
    await asyncio.gather(*deliveries)
    return i


async def test_killed_at_random_moments_while_customers_write(
    db_url: str, db: Database, tmp_path: Path
) -> None:
    seed = int(os.environ.get("RAPPORT_CRASH_SEED", os.getpid()))
    rng = random.Random(seed)
    log = tmp_path / "rapport.log"
    async with BotApiStandIn(
        TOKEN, overall_rate=1000, overall_burst=1000, chat_rate=1000, chat_burst=1000
    ) as api:
        port = free_port()
        env = app_env(
            db_url,
            telegram_token=TOKEN,
            telegram_api_url=api.base_url,
            telegram_chat_rate="30",
            inbound_smtp_port=str(port),
        )
        traffic = Traffic()
        mail = MailFeeder(traffic, "127.0.0.1", port, retry_wait=0.05)
        telegram = TelegramFeeder(traffic, api)
        watcher = asyncio.create_task(telegram.watch())
        rapport = await start_process(["run"], env, log)
        await wait_running(log, 1)
        stop = asyncio.Event()
        feeding = asyncio.create_task(feed(mail, telegram, stop))
        try:
            for kill in range(KILLS):
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                rapport.send_signal(signal.SIGKILL)
                await rapport.wait()
                await asyncio.sleep(rng.uniform(0, 0.5))
                rapport = await start_process(["run"], env, log)
                await wait_running(log, kill + 2)
            await asyncio.sleep(AFTER_LAST_START)
            stop.set()
            offered = await asyncio.wait_for(feeding, 120)
            await api.wait_for(lambda: not api.pending, timeout=60)
            telegram.note_confirmations()
        finally:
            stop.set()
            watcher.cancel()
            feeding.cancel()
            code = (await stop_processes([rapport]))[0]
    assert code == 0, log.read_text()[-3000:]

    assert not traffic.unacked(), f"unacknowledged: {traffic.unacked()[:5]} (seed {seed})"
    with db.session() as s:
        bodies = s.scalars(select(Interaction.body).where(Interaction.direction == Direction.IN))
        stored = Counter(t for body in bodies for t in TOKEN_IN_TEXT.findall(body or ""))
    assert offered >= RATE, "too little traffic to mean anything"
    assert set(stored) == {f"m{i}" for i in range(offered)}, f"lost (seed {seed})"
    assert set(stored.values()) == {1}, f"stored twice (seed {seed})"
    retried = sum(1 for m in traffic.messages.values() if m.tries > 1)
    print(f"seed {seed}: {retried} mails needed more than one try")  # shown with -s
