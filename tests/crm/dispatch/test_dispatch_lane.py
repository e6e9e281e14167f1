"""A slow send holds up its own step's record, not the channel's other connections.

The dispatcher sends a batch in steps of (parallel sends × pipeline depth);
a connection that finishes its share of a step takes the next step's mails
instead of waiting for the slowest send, while no more than two steps are
ever "sending" at once (what a crash may leave as outcome unknown).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.messages import OutboundMessage, Receipt
from rapport.crm.models import Delivery, DeliveryStatus
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.recording import RecordingChannel

PARALLEL = 2
DEPTH = 2
STEP = PARALLEL * DEPTH
STEPS = 3


class OneSlowSend(RecordingChannel):
    """Two connections; the send to `slow` waits until released."""

    parallel = PARALLEL

    def __init__(self, slow: str, *, wanted: int) -> None:
        super().__init__()
        self.slow = slow
        self.release = asyncio.Event()
        self.wanted = wanted
        self.reached = asyncio.Event()

    async def send(self, external_id: str, message: OutboundMessage) -> Receipt:
        if external_id == self.slow:
            await self.release.wait()
        receipt = await super().send(external_id, message)
        if len(self.sent) >= self.wanted:
            self.reached.set()
        return receipt


def statuses(db: Database) -> Counter[DeliveryStatus]:
    with db.session() as s:
        rows = s.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return Counter({status: n for status, n in rows})


async def test_the_other_connection_goes_on_into_the_next_step(db: Database) -> None:
    everyone(db)
    for i in range(STEP * STEPS):
        customer(db, f"lane{i:02}@example.com")
    start_run(db, campaign(db).id)
    # The first step's first mail is slow: the other connection sends the rest
    # of that step and all of the next one, then waits, since the third step
    # may be marked only once the first is recorded.
    channel = OneSlowSend("lane00@example.com", wanted=2 * STEP - 1)
    dispatcher = Dispatcher(db, {"email": channel}, batch_size=100, pipeline_depth=DEPTH)

    draining = asyncio.create_task(dispatcher.drain())
    await asyncio.wait_for(channel.reached.wait(), timeout=30)

    for _ in range(20):  # whatever else could run now, runs
        await asyncio.sleep(0)
    assert len(channel.sent) == 2 * STEP - 1
    in_flight = statuses(db)
    assert in_flight[DeliveryStatus.SENDING] == 2 * STEP  # two steps, never a third
    assert in_flight[DeliveryStatus.SENT] == 0  # the first step is recorded as a whole
    assert in_flight[DeliveryStatus.CLAIMED] == STEP

    channel.release.set()
    stats = await asyncio.wait_for(draining, timeout=30)

    assert stats.sent == STEP * STEPS
    assert set(Counter(to for to, _, _ in channel.sent).values()) == {1}
    assert statuses(db) == Counter({DeliveryStatus.SENT: STEP * STEPS})
