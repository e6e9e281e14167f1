"""PostgreSQL crashes and comes back while the whole app is busy.

`rapport run --workers 1` (the app's dispatcher and one worker process)
sends a campaign run through the email channel into a loopback SMTP sink,
while customers keep writing in by email (an MTA that retries until 250)
and on Telegram (the Bot API stand-in, which holds updates until
confirmed). A third of the way through the run the database server is
stopped the hard way (`pg_ctl stop -m immediate`: a crash, clients cut off
mid-statement), kept down a few seconds, and started again.

Nothing may die, nothing may be sent that cannot be recorded, and at the
end every recipient holds exactly one mail, every delivery is `sent`, and
every inbound message is stored exactly once. The server is a private
throwaway cluster (tests/support/private_postgres.py), never the shared one.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select, text

from benchmarks.common import address, load_consenting_customers
from benchmarks.traffic import MailFeeder, TelegramFeeder, Traffic
from rapport.channels.email.testing import LeanSmtpSink
from rapport.channels.telegram.testing import BotApiStandIn
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import PIPELINE_DEPTH
from rapport.crm.models import Delivery, DeliveryStatus, Direction, Interaction
from rapport.crm.settings import Settings
from rapport.migrations.schema import upgrade
from tests.support.private_postgres import private_cluster
from tests.support.scale_fixtures import (
    app_env,
    materialised_run,
    start_process,
    status_counts,
    stop_processes,
    wait_settled,
)

TOKEN = "123456:TEST-token"
RECIPIENTS = 3_000
DISPATCHERS = 2  # the app's own and one worker
OUTAGE_SECONDS = 3.0
IN_HAND = 2 * Settings.model_fields["smtp_connections"].default * PIPELINE_DEPTH
"""A dispatcher's two steps "sending" at once (rapport.crm.dispatch.dispatcher)."""
TOKEN_IN_TEXT = re.compile(r"\[(d\d+)\]")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def advisory_locks(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")) or 0


async def wait_for(condition, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def customers_write(mail: MailFeeder, telegram: TelegramFeeder, stop: asyncio.Event) -> int:
    """Ten messages a second, alternating channels, until `stop`; returns once all are acked."""
    mails: list[asyncio.Task[object]] = []
    i = 0
    while not stop.is_set():
        token = f"d{i}"
        if i % 2:
            await telegram.send(95_000 + i % 10, "Any news on my order?", token)
        else:
            sender = f"c{i % 10}@customers.example"
            mails.append(asyncio.create_task(mail.send(sender, "Any news?", token)))
        i += 1
        await asyncio.sleep(0.1)
    await asyncio.gather(*mails)
    return i


async def test_the_app_rides_out_a_database_crash(tmp_path: Path) -> None:
    with private_cluster() as cluster:
        db = Database(cluster.url)
        try:
            upgrade(db)
            load_consenting_customers(db, RECIPIENTS)
            async with (
                LeanSmtpSink() as sink,
                BotApiStandIn(
                    TOKEN, overall_rate=1000, overall_burst=1000, chat_rate=1000, chat_burst=1000
                ) as api,
            ):
                port = free_port()
                env = app_env(
                    cluster.url,
                    smtp_host="127.0.0.1",
                    smtp_port=str(sink.port),
                    smtp_tls="none",
                    mail_from="shop@example.com",
                    dispatch_batch_size="50",
                    telegram_token=TOKEN,
                    telegram_api_url=api.base_url,
                    telegram_chat_rate="30",
                    inbound_smtp_port=str(port),
                )
                log = tmp_path / "rapport.log"
                traffic = Traffic()
                telegram = TelegramFeeder(traffic, api)
                watcher = asyncio.create_task(telegram.watch())
                app = await start_process(["run", "--workers", "1"], env, log)
                stop_writing = asyncio.Event()
                writing = asyncio.create_task(
                    customers_write(MailFeeder(traffic, "127.0.0.1", port), telegram, stop_writing)
                )
                try:
                    # Both dispatchers up before the run exists: it takes a few seconds.
                    await wait_for(lambda: "worker is running" in log.read_text(), "the worker")
                    assert materialised_run(db) == RECIPIENTS
                    mails = sink.record.mails
                    await wait_for(lambda: len(mails) >= RECIPIENTS // 3, "a third of the run")
                    await asyncio.to_thread(cluster.stop, "immediate")
                    db.dispose()
                    down_at = len(mails)
                    await asyncio.sleep(OUTAGE_SECONDS)
                    # Nothing is sent that cannot be recorded: at most the steps each
                    # dispatcher had marked "sending" when the server went away.
                    assert len(mails) - down_at <= DISPATCHERS * IN_HAND
                    assert app.returncode is None, "the app died"
                    await asyncio.to_thread(cluster.start)
                    await wait_settled(db)
                    # the scheduler's lock died with its session; it is taken again
                    await wait_for(lambda: advisory_locks(db) == 1, "the scheduler lock", 30)
                    stop_writing.set()
                    offered = await asyncio.wait_for(writing, 120)
                    await api.wait_for(lambda: not api.pending, timeout=60)
                finally:
                    stop_writing.set()
                    watcher.cancel()
                    code = (await stop_processes([app]))[0]
            text = log.read_text()
            assert code == 0, text[-3000:]

            per_recipient = sink.record.per_recipient()
            assert set(per_recipient) == {address(i) for i in range(1, RECIPIENTS + 1)}
            assert set(per_recipient.values()) == {1}, "a recipient got the campaign twice"
            counts = status_counts(db)
            # Customers who wrote in before the run have no marketing consent: the run
            # itself records them as skipped.
            assert counts.pop(DeliveryStatus.SENT) == RECIPIENTS
            assert set(counts) <= {DeliveryStatus.SKIPPED}
            with db.session() as s:
                keys = Counter(
                    s.scalars(select(Delivery.message_key).where(Delivery.message_key.is_not(None)))
                )
                bodies = s.scalars(
                    select(Interaction.body).where(Interaction.direction == Direction.IN)
                ).all()
            assert keys == Counter(m.message_id for m in sink.record.mails)
            stored = Counter(t for body in bodies for t in TOKEN_IN_TEXT.findall(body or ""))
            assert set(stored) == {f"d{i}" for i in range(offered)}, "an inbound message was lost"
            assert set(stored.values()) == {1}, "an inbound message was stored twice"
            assert any(m.tries > 1 for m in traffic.messages.values()), "no mail met the outage"
            assert text.count("database unavailable") >= DISPATCHERS  # seen, and ridden out
            assert "worker 1 exited" not in text
            assert "scheduler lock taken again after a database outage" in text
        finally:
            db.dispose()
