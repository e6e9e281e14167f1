"""PostgreSQL crashes and comes back in the middle of a campaign run.

Two real `rapport worker` processes send a run through the email channel
into a loopback SMTP sink; a third of the way through, the database server
is stopped the hard way (`pg_ctl stop -m immediate`: a crash, clients cut
off mid-statement), kept down a while, and started again. The workers must
not die, must not send while they cannot record, and must finish the run
with every recipient holding exactly one mail and every delivery `sent`.

The server is a private throwaway cluster (tests/private_postgres.py), never
the shared one.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import address, load_consenting_customers
from channels.email.testing import LeanSmtpSink
from crm.database import Database, upgrade
from crm.models import Delivery, DeliveryStatus
from tests.private_postgres import private_cluster
from tests.scale_fixtures import (
    app_env,
    materialised_run,
    start_process,
    status_counts,
    stop_processes,
    wait_settled,
)

RECIPIENTS = 3_000
WORKERS = 2
OUTAGE_SECONDS = 3.0


async def wait_for(condition, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_workers_ride_out_a_database_crash_and_finish_the_run(tmp_path: Path) -> None:
    with private_cluster() as cluster:
        db = Database(cluster.url)
        try:
            upgrade(db)
            load_consenting_customers(db, RECIPIENTS)
            assert materialised_run(db) == RECIPIENTS
            async with LeanSmtpSink() as sink:
                env = app_env(
                    cluster.url,
                    smtp_host="127.0.0.1",
                    smtp_port=str(sink.port),
                    smtp_tls="none",
                    mail_from="shop@example.com",
                    dispatch_batch_size="50",
                )
                logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
                workers = [await start_process(["worker"], env, log) for log in logs]
                try:
                    mails = sink.record.mails
                    await wait_for(lambda: len(mails) >= RECIPIENTS // 3, "a third of the run")
                    await asyncio.to_thread(cluster.stop, "immediate")
                    db.dispose()
                    down_at = len(mails)
                    await asyncio.sleep(OUTAGE_SECONDS)
                    # Nothing is sent that cannot be recorded: at most the mail each
                    # worker had in hand when the server went away.
                    assert len(mails) - down_at <= WORKERS
                    assert all(w.returncode is None for w in workers), "a worker died"
                    await asyncio.to_thread(cluster.start)
                    await wait_settled(db)
                finally:
                    codes = await stop_processes(workers)
            assert codes == [0] * WORKERS, [log.read_text()[-3000:] for log in logs]

            per_recipient = sink.record.per_recipient()
            assert set(per_recipient) == {address(i) for i in range(1, RECIPIENTS + 1)}
            assert set(per_recipient.values()) == {1}, "a recipient got the campaign twice"
            assert status_counts(db) == {DeliveryStatus.SENT: RECIPIENTS}
            with db.session() as s:
                keys = Counter(s.scalars(select(Delivery.message_key)))
            assert keys == Counter(m.message_id for m in sink.record.mails)
            text = "".join(log.read_text() for log in logs)
            assert "database unavailable" in text  # the outage was seen, and ridden out
            assert "Traceback" not in text
        finally:
            db.dispose()
