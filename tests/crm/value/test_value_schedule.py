"""The daily value job: registered by the scheduler, and what one run of it does."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

from rapport.bot.scheduler import VALUES_HOUR, Runtime, SchedulerService, refresh_values
from rapport.crm.database import Database
from rapport.crm.models import CustomerValue
from rapport.crm.settings import load_settings
from rapport.crm.value.loyalty import balance
from rapport.crm.value.orders import record_order
from tests.support.value_fixtures import NOW


async def test_scheduler_runs_the_value_job_daily(db: Database) -> None:
    settings = load_settings(database_url=db.url, timezone="Europe/Berlin")
    runtime = Runtime(db=db, channels=(), frequency_cap=3, wake_dispatcher=lambda: None)
    service = SchedulerService(settings, db, runtime)
    await service.start()
    try:
        job = service.scheduler.get_job("values", jobstore="internal")
        assert job is not None and isinstance(job.trigger, CronTrigger)
        local = job.next_run_time.astimezone(settings.zone)
        assert local.hour == VALUES_HOUR
    finally:
        await service.stop()


def test_one_run_expires_points_then_recomputes_tiers(db: Database) -> None:
    settings = load_settings(
        database_url=db.url, points_expire_months=12, loyalty_tiers="silver:100"
    )
    old = record_order(
        db,
        order_key="old",
        customer="ann@example.com",
        amount="500",
        ordered_at=NOW - timedelta(days=500),
        now=NOW,
    )
    record_order(
        db,
        order_key="new",
        customer="ann@example.com",
        amount="150",
        ordered_at=NOW - timedelta(days=5),
        now=NOW,
    )
    refresh_values(db, settings, now=NOW)
    assert balance(db, old.customer_id) == 150
    with db.session() as s:
        value = s.scalar(select(CustomerValue).where(CustomerValue.customer_id == old.customer_id))
    assert value is not None
    assert (value.orders, value.loyalty_tier, value.tier_change) == (2, "silver", "up")
