"""`rapport campaigns run-now` as a user runs it, mail going to a real SMTP sink."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from rapport.bot.cli import campaigns as campaigns_cli
from rapport.bot.cli.campaigns import _settled
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.models import Delivery, DeliveryStatus
from tests.support.campaign_fixtures import campaign, customer, everyone
from tests.support.cli_run_now import _shop
from tests.support.desk_cli import _rapport
from tests.support.email_sink import Sink
from tests.support.recording import RecordingChannel


async def test_run_now_sends_and_says_what_the_quiet_window_holds_back(
    tmp_path: Path, sink: Sink
) -> None:
    db = _shop(tmp_path)

    code, out, err = await _rapport(tmp_path, sink, "campaigns", "run-now", "Spring")

    assert code == 0, err
    assert "2 queued" in out and "sent 1," in out
    assert "1 still queued (customers who wrote in the last 5 s" in out
    assert [m.message["To"] for m in sink.received] == ["ann@example.org"]
    with db.session() as s:
        statuses = dict(s.execute(select(Delivery.customer_id, Delivery.status)).all())
    db.dispose()
    assert sorted(statuses.values()) == [DeliveryStatus.QUEUED, DeliveryStatus.SENT]


class _HeldChannel(RecordingChannel):
    """Another dispatcher's channel (`rapport run`'s): its sends wait for `go`."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def send(self, external_id, message):  # type: ignore[no-untyped-def]
        self.entered.set()
        await self.go.wait()
        return await super().send(external_id, message)


async def _claimed_by_rapport_run(db: Database) -> tuple[int, _HeldChannel, asyncio.Task[object]]:
    """A run whose two deliveries `rapport run`'s dispatcher claimed before run-now's."""
    everyone(db)
    for address in ("ann@example.org", "bob@example.org"):
        customer(db, address)
    run = start_run(db, campaign(db).id)
    held = _HeldChannel()
    other = Dispatcher(db, {"email": held}, worker_id="rapport-run")
    sending = asyncio.create_task(other.drain())
    await asyncio.wait_for(held.entered.wait(), 30)
    mine = await Dispatcher(db, {"email": RecordingChannel()}, worker_id="run-now").drain()
    assert mine.sent == 0  # nothing left for run-now's own dispatcher
    return run.run_id, held, sending


async def test_run_now_reports_what_another_dispatcher_sent_for_its_run(db: Database) -> None:
    run_id, held, sending = await _claimed_by_rapport_run(db)

    settling = asyncio.create_task(_settled(db, run_id))
    await asyncio.sleep(0.3)
    assert not settling.done()  # it waits for the claimed deliveries
    held.go.set()
    outcome = await asyncio.wait_for(settling, 30)
    await sending

    assert (outcome.sent, outcome.in_flight, outcome.waiting) == (2, 0, 0)
    assert len(held.sent) == 2


async def test_run_now_stops_waiting_and_counts_the_unsettled_as_queued(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaigns_cli, "SETTLE_SECONDS", 0.5)
    run_id, held, sending = await _claimed_by_rapport_run(db)
    try:
        outcome = await asyncio.wait_for(_settled(db, run_id), 30)
    finally:
        held.go.set()
        await sending
    assert (outcome.sent, outcome.in_flight) == (0, 2)
