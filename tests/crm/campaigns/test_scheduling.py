"""Schedules: cron in the business's zone across DST, persistence, missed firings, one scheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from rapport.bot import scheduler as bot_scheduler
from rapport.bot.cron import cron_trigger
from rapport.bot.scheduler import JOB_PREFIX, Runtime, SchedulerBusy, SchedulerService
from rapport.crm.campaigns.definitions import set_status
from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.models import CampaignRun, CampaignStatus
from rapport.crm.settings import load_settings
from tests.support.campaign_fixtures import campaign, customer, everyone

LONDON = ZoneInfo("Europe/London")


def fire_times(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    trigger = cron_trigger(expression, zone)
    times, previous, now = [], None, start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        times.append(nxt)
        previous, now = nxt, nxt + timedelta(seconds=1)
    return times


@pytest.mark.parametrize(
    ("weekdays", "expected"),
    [
        ("1", [0]),
        ("0", [6]),
        ("7", [6]),
        ("1-5", [0, 1, 2, 3, 4]),
        ("*/2", [6, 1, 3, 5]),
        ("sat,sun", [5, 6]),
    ],
)
def test_day_of_week_means_what_crontab_means(weekdays: str, expected: list[int]) -> None:
    """Crontab counts from Sunday = 0; Python's weekday() from Monday = 0."""
    start = datetime(2026, 11, 1, tzinfo=UTC)  # a Sunday
    times = fire_times(f"0 12 * * {weekdays}", "UTC", start, len(expected))
    assert [t.weekday() for t in times] == sorted(expected, key=lambda d: (d + 1) % 7)


def test_daily_cron_keeps_local_time_across_spring_forward() -> None:
    start = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    times = fire_times("0 9 * * *", "Europe/London", start, 3)
    assert [t.astimezone(LONDON).hour for t in times] == [9, 9, 9]
    assert [t.astimezone(UTC).hour for t in times] == [9, 8, 8]  # GMT, then BST


def test_nonexistent_local_time_is_not_doubled_or_lost_twice() -> None:
    # 01:30 does not exist in London on 2026-03-29 and happens twice on 2026-10-25.
    spring = fire_times("30 1 * * *", "Europe/London", datetime(2026, 3, 28, 2, tzinfo=UTC), 3)
    assert len({t.date() for t in spring}) == 3
    # Plain APScheduler 3.11 gets stuck returning 01:30 GMT forever at the fold;
    # our trigger moves on, once per local day.
    autumn = fire_times("30 1 * * *", "Europe/London", datetime(2026, 10, 24, 2, tzinfo=UTC), 3)
    local_dates = [t.astimezone(LONDON).date().isoformat() for t in autumn]
    assert local_dates == ["2026-10-25", "2026-10-26", "2026-10-27"]
    assert autumn == sorted(set(autumn))


def test_the_repeated_hour_fires_a_campaign_once(db: Database) -> None:
    """Should a firing come at both 01:30 BST and 01:30 GMT, only the first runs."""
    everyone(db)
    customer(db, "dst@example.com")
    c = campaign(db, schedule_cron="30 1 * * *", timezone="Europe/London")
    bot_scheduler._runtime = Runtime(
        db=db, channels=("email",), frequency_cap=9, wake_dispatcher=lambda: None
    )
    try:
        bst = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
        gmt = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
        bot_scheduler.fire_campaign(c.id, now=bst)
        bot_scheduler.fire_campaign(c.id, now=gmt)
        next_day = bot_scheduler.cron_trigger("30 1 * * *", "Europe/London").get_next_fire_time(
            gmt, gmt + timedelta(minutes=1)
        )
        bot_scheduler.fire_campaign(c.id, now=next_day)
    finally:
        bot_scheduler._runtime = None
    assert _runs(db) == 2


def _service(db: Database, fired: list[int] | None = None) -> SchedulerService:
    settings = load_settings(database_url=db.url)
    runtime = Runtime(
        db=db, channels=("email", "telegram"), frequency_cap=3, wake_dispatcher=lambda: None
    )
    return SchedulerService(settings, db, runtime)


def _runs(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(CampaignRun)) or 0


async def test_schedules_are_stored_and_survive_a_restart(db: Database) -> None:
    everyone(db)
    c = campaign(db, schedule_cron="0 10 * * 1", timezone="Asia/Hong_Kong")
    first = _service(db)
    await first.start()
    await first.stop()
    with db.session() as s:
        stored = s.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
    assert stored == [f"{JOB_PREFIX}{c.id}"]

    second = _service(db)
    await second.start()
    try:
        job = second.scheduler.get_job(f"{JOB_PREFIX}{c.id}")
        assert job is not None
        local = job.next_run_time.astimezone(ZoneInfo("Asia/Hong_Kong"))
        assert (local.weekday(), local.hour, local.minute) == (0, 10, 0)
    finally:
        await second.stop()


async def test_paused_campaign_loses_its_schedule(db: Database) -> None:
    everyone(db)
    c = campaign(db, schedule_cron="*/5 * * * *")
    set_status(db, c.id, CampaignStatus.PAUSED)
    service = _service(db)
    await service.start()
    try:
        assert service.scheduler.get_job(f"{JOB_PREFIX}{c.id}") is None
    finally:
        await service.stop()


async def test_missed_one_off_within_grace_runs_once_on_start(db: Database) -> None:
    everyone(db)
    customer(db, "late@example.com")
    campaign(db, run_at=utcnow() - timedelta(minutes=10))  # while we were down
    service = _service(db)
    await service.start()
    try:
        for _ in range(100):
            if _runs(db):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        await service.stop()
    assert _runs(db) == 1


async def test_a_second_scheduler_on_the_same_database_refuses(db: Database) -> None:
    first = _service(db)
    await first.start()
    try:
        with pytest.raises(SchedulerBusy):
            await _service(db).start()
    finally:
        await first.stop()
    again = _service(db)
    await again.start()  # the lock is free once the first one stopped
    await again.stop()
