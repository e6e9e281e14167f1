"""Several dispatchers share one outbox: each delivery is sent by exactly one of them.

On PostgreSQL claims use FOR UPDATE SKIP LOCKED; on SQLite the claim's status
re-check keeps a second dispatcher off rows the first one took.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.models import Delivery, DeliveryStatus
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.recording import RecordingChannel

CUSTOMERS = 120


class SlowChannel(RecordingChannel):
    async def send(self, external_id, message):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0)  # let the other dispatchers run between sends
        return await super().send(external_id, message)


async def test_four_dispatchers_send_each_message_once(db: Database) -> None:
    everyone(db)
    for i in range(CUSTOMERS):
        customer(db, f"w{i}@example.com")
    start_run(db, campaign(db).id)
    channel = SlowChannel()
    dispatchers = [
        Dispatcher(db, {"email": channel}, worker_id=f"worker-{n}", batch_size=7) for n in range(4)
    ]

    stats = await asyncio.gather(*(d.drain() for d in dispatchers))

    sent_to = Counter(to for to, _, _ in channel.sent)
    assert len(sent_to) == CUSTOMERS and set(sent_to.values()) == {1}
    assert sum(s.sent for s in stats) == CUSTOMERS
    if db.dialect == "postgresql":  # SKIP LOCKED lets them work side by side
        assert sum(1 for s in stats if s.sent) >= 2
    with db.session() as s:
        rows = s.scalars(select(Delivery)).all()
    assert all(d.status == DeliveryStatus.SENT for d in rows)
    assert Counter(d.claimed_by for d in rows).keys() <= {f"worker-{n}" for n in range(4)}
