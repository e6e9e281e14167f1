"""The quiet window: no campaign message for a customer who wrote in the last few seconds.

A promotion should not land in a live exchange, and on Telegram a campaign
message from one process within a second of another process's reply to the
same chat draws a 429 (crm/dispatch/claims.py). Held deliveries stay queued and
untouched, are sent once the window has passed, and are never held longer
than `QUIET_HOLD_FACTOR` windows. The clock is frozen through the
dispatcher's `clock`; `last_activity_at` is the message's sent time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from rapport.bot.dispatch_service import HELD_MARGIN_SECONDS, IDLE_POLL_SECONDS, DispatchService
from rapport.crm.campaigns.runs import start_run
from rapport.crm.database import Database
from rapport.crm.dispatch.claims import QUIET_HOLD_FACTOR
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.dispatch.outcomes import DispatchStats
from rapport.crm.interactions.ingest import ingest
from rapport.crm.messages import InboundMessage
from rapport.crm.models import Delivery, DeliveryStatus
from rapport.crm.settings import Settings
from tests.support.campaign_fixtures import T0, campaign, customer, everyone
from tests.support.recording import RecordingChannel

WINDOW = 5.0


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def to(self, seconds: float) -> None:
        self.at = T0 + timedelta(seconds=seconds)


def writes(db: Database, address: str, seconds: float, key: str) -> None:
    """The customer writes at T0 + seconds (their message's sent time)."""
    ingest(
        db,
        InboundMessage(
            "email", address, None, "Where is my order?", T0 + timedelta(seconds=seconds), key
        ),
    )


def setup(db: Database) -> dict[str, int]:
    """Three customers who wrote long ago; a run at T0 queues one delivery each."""
    everyone(db)
    ids = {
        a: customer(db, a, at=T0 - timedelta(days=2))
        for a in ("ann@example.com", "bob@example.com", "cy@example.com")
    }
    start_run(db, campaign(db).id, now=T0)
    return ids


def deliveries(db: Database) -> dict[int, tuple[DeliveryStatus, int]]:
    with db.session() as s:
        rows = s.execute(select(Delivery.customer_id, Delivery.status, Delivery.attempts)).all()
    return {r.customer_id: (r.status, r.attempts) for r in rows}


async def test_a_customer_who_just_wrote_is_held_until_the_window_has_passed(
    db: Database,
) -> None:
    ids = setup(db)
    writes(db, "bob@example.com", 1.0, "live-1")
    clock = Clock(T0)
    channel = RecordingChannel()
    dispatcher = Dispatcher(db, {"email": channel}, clock=clock, quiet_seconds=WINDOW)

    clock.to(2.0)
    stats = await dispatcher.drain()
    assert stats.sent == 2
    assert sorted(x for x, _, _ in channel.sent) == ["ann@example.com", "cy@example.com"]
    held = deliveries(db)[ids["bob@example.com"]]
    assert held == (DeliveryStatus.QUEUED, 0)  # not claimed, no attempt spent
    assert dispatcher.held_until() == T0 + timedelta(seconds=1.0 + WINDOW)

    clock.to(1.0 + WINDOW - 0.1)  # still inside the window
    assert (await dispatcher.drain()).sent == 0

    clock.to(1.0 + WINDOW + 0.1)
    assert (await dispatcher.drain()).sent == 1
    assert dispatcher.held_until() is None
    assert [x for x, _, _ in channel.sent].count("bob@example.com") == 1
    assert set(deliveries(db).values()) == {(DeliveryStatus.SENT, 1)}


async def test_with_a_window_of_zero_nobody_is_held(db: Database) -> None:
    setup(db)
    writes(db, "bob@example.com", 1.0, "live-1")
    channel = RecordingChannel()
    dispatcher = Dispatcher(
        db, {"email": channel}, clock=lambda: T0 + timedelta(seconds=1.5), quiet_seconds=0
    )
    assert (await dispatcher.drain()).sent == 3
    assert dispatcher.held_until() is None


async def test_a_customer_who_keeps_writing_is_held_only_so_long(db: Database) -> None:
    ids = setup(db)
    clock = Clock(T0)
    channel = RecordingChannel()
    dispatcher = Dispatcher(db, {"email": channel}, clock=clock, quiet_seconds=WINDOW)
    limit = WINDOW * QUIET_HOLD_FACTOR
    writes(db, "bob@example.com", limit - 2.0, "chatty-1")
    clock.to(limit - 1.0)
    assert (await dispatcher.drain()).sent == 2
    writes(db, "bob@example.com", limit - 0.5, "chatty-2")
    clock.to(limit)  # the delivery fell due at T0; it has waited its longest
    assert (await dispatcher.drain()).sent == 1
    assert deliveries(db)[ids["bob@example.com"]] == (DeliveryStatus.SENT, 1)


async def test_the_service_wakes_when_the_first_held_delivery_falls_free(
    db: Database, db_url: str
) -> None:
    setup(db)
    settings = Settings(database_url=db_url, dispatch_quiet_seconds=WINDOW)
    service = DispatchService(
        settings, db, {"email": RecordingChannel()}, recover_all_at_start=True
    )
    assert service.dispatcher.quiet_seconds == WINDOW  # the runner passes the setting
    clock = Clock(T0)
    service.dispatcher.clock = clock
    clock.to(2.0)
    assert service._idle_pause() == IDLE_POLL_SECONDS  # nothing held
    writes(db, "bob@example.com", 1.0, "live-1")
    writes(db, "cy@example.com", 1.5, "live-2")
    assert service._idle_pause() == WINDOW - 1.0 + HELD_MARGIN_SECONDS
    clock.to(1.0 + WINDOW + 0.01)  # bob is free, cy's window ends in 0.49 s
    assert abs(service._idle_pause() - (0.49 + HELD_MARGIN_SECONDS)) < 1e-6


async def test_a_customer_who_writes_after_the_claim_is_given_back_to_the_queue(
    db: Database,
) -> None:
    """A batch is sent message by message; the window is checked again at each turn."""
    ids = setup(db)
    clock = Clock(T0 + timedelta(seconds=10))
    channel = RecordingChannel()
    dispatcher = Dispatcher(db, {"email": channel}, clock=clock, quiet_seconds=WINDOW)
    jobs = dispatcher.claim()
    assert len(jobs) == 3
    writes(db, "bob@example.com", 11.0, "after-claim")  # bob writes while the batch goes out
    clock.to(11.5)
    stats = DispatchStats()
    await dispatcher._send_batch(jobs, stats)
    assert (stats.sent, stats.held, stats.skipped) == (2, 1, 0)
    assert deliveries(db)[ids["bob@example.com"]] == (DeliveryStatus.QUEUED, 0)
    assert dispatcher.claim() == []  # still inside bob's window

    clock.to(11.0 + WINDOW + 0.1)
    assert (await dispatcher.drain()).sent == 1
    assert [x for x, _, _ in channel.sent].count("bob@example.com") == 1
    assert set(deliveries(db).values()) == {(DeliveryStatus.SENT, 1)}
