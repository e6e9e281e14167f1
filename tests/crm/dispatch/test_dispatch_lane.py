"""A slow send holds up its own step's record, not the channel's other connections.

The dispatcher sends a batch in steps of (parallel sends × pipeline depth);
a connection that finishes its share of a step takes the next step's mails
instead of waiting for the slowest send, while no more than two steps are
ever "sending" at once (what a crash may leave as outcome unknown).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.messages import OutboundMessage, Receipt
from rapport.crm.models import Delivery, DeliveryStatus, Identity
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


def first_in_line(db: Database) -> str:
    """The address of the delivery claimed first (claims go in id order)."""
    with db.session() as s:
        return s.scalars(
            select(Identity.external_id)
            .join(Delivery, Delivery.identity_id == Identity.id)
            .order_by(Delivery.id)
            .limit(1)
        ).one()


def statuses(db: Database) -> Counter[DeliveryStatus]:
    with db.session() as s:
        rows = s.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return Counter({status: n for status, n in rows})


def run_with_a_slow_first_send(db: Database) -> tuple[OneSlowSend, Dispatcher]:
    """A run of three steps whose first-claimed mail is slow, and a dispatcher for it.

    The other connection sends the rest of the first step and all of the
    next one, then waits, since the third step may be marked only once the
    first is recorded: `reached` is set at that moment.
    """
    everyone(db)
    for i in range(STEP * STEPS):
        customer(db, f"lane{i:02}@example.com")
    start_run(db, campaign(db).id)
    channel = OneSlowSend(first_in_line(db), wanted=2 * STEP - 1)
    return channel, Dispatcher(db, {"email": channel}, batch_size=100, pipeline_depth=DEPTH)


async def test_the_other_connection_goes_on_into_the_next_step(db: Database) -> None:
    channel, dispatcher = run_with_a_slow_first_send(db)

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


async def test_a_stopped_dispatcher_leaves_no_sender_behind(db: Database) -> None:
    channel, dispatcher = run_with_a_slow_first_send(db)
    before = asyncio.all_tasks()

    draining = asyncio.create_task(dispatcher.drain())
    await asyncio.wait_for(channel.reached.wait(), timeout=30)
    draining.cancel()  # what `rapport run` does on shutdown
    with pytest.raises(asyncio.CancelledError):
        await draining

    assert asyncio.all_tasks() == before  # the lane's senders went with it
    left = statuses(db)
    assert left[DeliveryStatus.SENDING] == 2 * STEP  # outcome unknown, for recovery
    recovered = dispatcher.recover(stale_after=0)
    assert recovered.unknown == 2 * STEP
    assert len(channel.sent) == 2 * STEP - 1  # nothing went out after the stop
