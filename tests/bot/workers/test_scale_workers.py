"""Four `rapport worker` processes share one 20,000-recipient run on PostgreSQL.

Everything is real except the far end: four OS processes running the
`rapport worker` command, each with the real email channel (EmailSender,
configured by RAPPORT_SMTP_HOST/PORT) talking SMTP over loopback to a sink
(`rapport.channels.email.testing.LeanSmtpSink`: aiosmtpd alone would be the
bottleneck at this size, see its docstring). The sink is the customers'
inboxes: every recipient must hold exactly one mail, and the Message-IDs it
received must be exactly the receipts the database recorded.

The slowest test of the suite (about a minute on the 2-core CI machine);
the database is its own, created and dropped here.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import address, load_consenting_customers
from rapport.channels.email.testing import LeanSmtpSink
from rapport.crm.database import Database
from rapport.crm.models import Delivery, DeliveryStatus
from tests.support.scale_fixtures import (
    app_env,
    materialised_run,
    scale_database,
    start_process,
    status_counts,
    stop_processes,
    wait_settled,
)

RECIPIENTS = 20_000
WORKERS = 4


async def test_four_worker_processes_send_each_of_20000_mails_once(tmp_path: Path) -> None:
    with scale_database() as url:
        db = Database(url)
        try:
            await asyncio.to_thread(load_consenting_customers, db, RECIPIENTS)
            queued = await asyncio.to_thread(materialised_run, db)
            assert queued == RECIPIENTS
            async with LeanSmtpSink() as sink:
                env = app_env(
                    url,
                    smtp_host="127.0.0.1",
                    smtp_port=str(sink.port),
                    smtp_tls="none",
                    mail_from="shop@example.com",
                    dispatch_batch_size="200",
                )
                started = time.monotonic()
                workers = [
                    await start_process(["worker"], env, tmp_path / f"worker{n}.log")
                    for n in range(WORKERS)
                ]
                try:
                    await wait_settled(db)
                    took = time.monotonic() - started
                    print(f"{RECIPIENTS} mails by {WORKERS} workers in {took:.1f} s")  # for -s
                finally:
                    codes = await stop_processes(workers)
            assert codes == [0] * WORKERS, [p.read_text()[-2000:] for p in tmp_path.glob("*.log")]

            per_recipient = sink.record.per_recipient()
            assert len(per_recipient) == RECIPIENTS
            assert set(per_recipient.values()) == {1}, "a recipient got the campaign twice"
            assert set(per_recipient) == {address(i) for i in range(1, RECIPIENTS + 1)}
            received_ids = Counter(m.message_id for m in sink.record.mails)
            assert len(received_ids) == RECIPIENTS and set(received_ids.values()) == {1}

            assert status_counts(db) == {DeliveryStatus.SENT: RECIPIENTS}
            with db.session() as s:
                rows = s.execute(select(Delivery.message_key, Delivery.claimed_by)).all()
            assert {key for key, _ in rows} == set(received_ids)
            by_worker = Counter(worker for _, worker in rows)
            assert len(by_worker) == WORKERS, f"not every worker took a share: {by_worker}"
            for log in tmp_path.glob("worker*.log"):
                assert "@example.com" not in log.read_text()  # INFO logs hold no addresses
        finally:
            db.dispose()
