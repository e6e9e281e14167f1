"""`rapport run --workers 2` keeps, all processes together, to the relay's quota.

The quota (RAPPORT_SMTP_MAX_PER_SECOND) is the provider's, for the whole
of Rapport: the app and its two workers each send a third of it. Real
processes, real SMTP to a sink scripted as a relay that answers 454 past
its quota (as Amazon SES does); at full speed each process alone would
exceed it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import address, load_consenting_customers
from rapport.channels.email.testing import LeanSmtpSink, sending_quota
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

RECIPIENTS = 300
RELAY_QUOTA = 50.0
SETTING = "45"
"""A little under the relay's figure, as docs/email.md advises: 15/s per process."""


async def workers_up(log: Path, count: int, timeout: float = 120.0) -> None:
    """Until `count` workers said they run (a guard against a hang, not a timing)."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("worker is running") < count:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        await asyncio.sleep(0.1)


async def test_the_app_and_its_workers_share_the_quota(tmp_path: Path) -> None:
    with scale_database() as url:
        db = Database(url)
        try:
            await asyncio.to_thread(load_consenting_customers, db, RECIPIENTS)
            async with LeanSmtpSink(sending_quota(RELAY_QUOTA)) as sink:
                env = app_env(
                    url,
                    smtp_host="127.0.0.1",
                    smtp_port=str(sink.port),
                    smtp_tls="none",
                    mail_from="shop@example.com",
                    smtp_max_per_second=SETTING,
                    dispatch_batch_size="20",  # small claims: every process takes a share
                )
                log = tmp_path / "run.log"
                app = await start_process(["run", "--workers", "2"], env, log)
                try:
                    await workers_up(log, 2)  # then the campaign: all three send it
                    assert await asyncio.to_thread(materialised_run, db) == RECIPIENTS
                    await wait_settled(db, poll=0.2)
                finally:
                    codes = await stop_processes([app])
            assert codes == [0], (tmp_path / "run.log").read_text()[-3000:]

            assert sink.record.faults_given == {}, "the relay throttled Rapport"
            assert sink.record.per_recipient() == {address(i): 1 for i in range(1, RECIPIENTS + 1)}
            assert status_counts(db) == {DeliveryStatus.SENT: RECIPIENTS}
            with db.session() as s:
                senders = Counter(s.scalars(select(Delivery.claimed_by)))
            assert len(senders) == 3, f"the app and both workers send: {senders}"
        finally:
            db.dispose()
