"""Scheduling exactly once: a running scheduler over simulated minutes, restarted midway.

APScheduler and Rapport's scheduler adapter read one simulated clock, which
the test moves a minute at a time, waking the scheduler as its timer would.
Rapport's side is handed it as its `Clock` (`Runtime.clock`); APScheduler,
which takes no clock, has its `datetime` replaced.
The 30-second sync runs at every step (its interval job is due each simulated
minute), which is what used to re-add a fired one-off campaign, and the
service is stopped and started again in the middle, with minutes missed while
it was down. A one-off campaign must reach each customer once; a cron
campaign once per slot (the missed slots of the downtime once together).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED
from sqlalchemy import func, select

from rapport.bot import scheduler as bot_scheduler
from rapport.bot.scheduler import JOB_PREFIX, Runtime, SchedulerService, fire_campaign
from rapport.crm.campaigns.definitions import get_campaign
from rapport.crm.database import Database
from rapport.crm.models import CampaignRun, CampaignStatus, Delivery
from rapport.crm.settings import load_settings
from tests.support.campaign_fixtures import campaign, customer, everyone

START = datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC)


class SimulatedClock:
    """The time the test sets: Rapport's scheduler is handed it as its `Clock`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedClock]:
    simulated = SimulatedClock(START)

    class Simulated(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return simulated.now.astimezone(tz) if tz else simulated.now.replace(tzinfo=None)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", Simulated)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", Simulated)
    yield simulated


class Running:
    """One SchedulerService and a way to wait until the jobs a wake-up submitted finished."""

    def __init__(self, db: Database, clock: SimulatedClock) -> None:
        runtime = Runtime(
            db=db,
            channels=("email",),
            frequency_cap=100,
            wake_dispatcher=lambda: None,
            clock=clock,
        )
        self.service = SchedulerService(load_settings(database_url=db.url), db, runtime)
        self.submitted = 0
        self.finished = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._changed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.service.scheduler.add_listener(
            self._event, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
        )

    def _event(self, event: object) -> None:
        with self._lock:
            code = getattr(event, "code", 0)
            if code == EVENT_JOB_SUBMITTED:
                self.submitted += 1
            else:
                self.finished += 1
                self.errors += code == EVENT_JOB_ERROR
        self._loop.call_soon_threadsafe(self._changed.set)

    async def settle(self) -> None:
        """Wait until every job submitted so far has finished."""
        while True:
            with self._lock:
                if self.finished >= self.submitted:
                    return
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 30)

    async def start(self) -> None:
        await self.service.start()
        await asyncio.sleep(0)  # start() queued a wake-up: let it run
        await self.settle()

    async def tick(self) -> None:
        self.service.scheduler.wakeup()  # what its timer does when the next job is due
        await asyncio.sleep(0)
        await self.settle()

    async def stop(self) -> None:
        await self.settle()
        await self.service.stop()


def _runs(db: Database, campaign_id: int) -> list[tuple[datetime, int]]:
    with db.session() as s:
        rows = s.execute(
            select(CampaignRun.scheduled_for, CampaignRun.repeat)
            .where(CampaignRun.campaign_id == campaign_id)
            .order_by(CampaignRun.scheduled_for)
        )
        return [(at, repeat) for at, repeat in rows]


def _per_customer(db: Database, campaign_id: int) -> dict[int, int]:
    with db.session() as s:
        rows = s.execute(
            select(Delivery.customer_id, func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.customer_id)
        )
        return {customer_id: n for customer_id, n in rows}


async def test_one_off_once_and_cron_once_per_slot_across_a_restart(
    db: Database, clock: SimulatedClock
) -> None:
    everyone(db)
    people = [customer(db, f"c{n}@example.org") for n in range(3)]
    once = campaign(db, "Once", run_at=START.replace(second=0) + timedelta(minutes=2))
    every_minute = campaign(db, "Every minute", schedule_cron="* * * * *")

    first = Running(db, clock)
    await first.start()
    for minute in range(1, 4):  # 09:01 … 09:03; the one-off is due at 09:02
        clock.now = START + timedelta(minutes=minute)
        await first.tick()
        await first.tick()  # a second wake-up in the same minute changes nothing
    await first.stop()

    assert get_campaign(db, once.id).status == CampaignStatus.COMPLETED
    clock.now = START + timedelta(minutes=6)  # down over 09:04 and 09:05
    second = Running(db, clock)
    await second.start()
    for minute in range(7, 9):
        clock.now = START + timedelta(minutes=minute)
        await second.tick()
    stored = {job.id for job in second.service.scheduler.get_jobs(jobstore="default")}
    await second.stop()

    assert first.errors == second.errors == 0
    assert stored == {f"{JOB_PREFIX}{every_minute.id}"}  # the one-off never came back
    slot = START.replace(second=0)
    assert _runs(db, once.id) == [(slot + timedelta(minutes=2), 0)]
    assert _per_customer(db, once.id) == dict.fromkeys(people, 1)
    # 09:01-09:03, the downtime's misses (09:04-09:06) once as 09:06, then 09:07 and 09:08
    minutes = [1, 2, 3, 6, 7, 8]
    assert _runs(db, every_minute.id) == [(slot + timedelta(minutes=m), 0) for m in minutes]
    assert _per_customer(db, every_minute.id) == dict.fromkeys(people, len(minutes))


async def test_late_and_racing_firings_name_the_same_slot(
    db: Database, clock: SimulatedClock
) -> None:
    """A firing 40 s late, and two at once from two threads, make one run for the slot."""
    everyone(db)
    customer(db, "race@example.org")
    c = campaign(db, "Hourly", schedule_cron="0 * * * *")
    bot_scheduler._runtime = Runtime(
        db=db, channels=("email",), frequency_cap=100, wake_dispatcher=lambda: None, clock=clock
    )
    try:
        clock.now = datetime(2026, 11, 2, 10, 0, 40, tzinfo=UTC)
        threads = [threading.Thread(target=fire_campaign, args=(c.id,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        clock.now = datetime(2026, 11, 2, 10, 3, tzinfo=UTC)  # very late, same slot
        fire_campaign(c.id)
    finally:
        bot_scheduler._runtime = None
    assert _runs(db, c.id) == [(datetime(2026, 11, 2, 10, 0, tzinfo=UTC), 0)]
