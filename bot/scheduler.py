"""The one APScheduler instance, with campaign schedules stored in Rapport's database.

Jobs live in the `apscheduler_jobs` table (created by our migration, not by
APScheduler), so schedules survive restarts. A stored job names
`rapport.bot.scheduler:fire_campaign` and a campaign id; the function finds the
running application through `_runtime`, set when the scheduler starts.

The campaigns table is the truth: every 30 s (and at start) `sync_jobs`
makes the stored jobs match it, so `rapport campaigns pause` in another
process takes effect without talking to this one. Only one scheduler may
run per database: it holds a lock (a PostgreSQL advisory lock, or a lock file
beside the SQLite database) and a second `rapport run` leaves scheduling off.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobEvent, JobSubmissionEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from rapport.bot.cron import cron_trigger, latest_fire_time
from rapport.channels.supervision import Supervisor
from rapport.crm.campaigns.definitions import (
    CampaignView,
    get_campaign,
    is_live,
    list_campaigns,
    set_status,
)
from rapport.crm.campaigns.runs import local_slot_taken, slot_run, start_run
from rapport.crm.clock import Clock, utcnow
from rapport.crm.database import Database, is_outage
from rapport.crm.errors import RapportError
from rapport.crm.models import Campaign, CampaignStatus
from rapport.crm.privacy.requests import enforce_retention
from rapport.crm.settings import Settings
from rapport.crm.value.loyalty import expire_points, parse_tiers
from rapport.crm.value.scores import recompute_values

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600
SYNC_SECONDS = 30
LOCK_CHECK_SECONDS = 10
JOB_PREFIX = "campaign:"
RETENTION_HOUR = 3
"""Local hour of the daily retention pass: after the day's campaigns, before the next."""
VALUES_HOUR, VALUES_MINUTE = 3, 17
"""Daily value recompute, in the business's time zone: quiet hours, off the hour mark."""
_ADVISORY_KEY = 0x5241_5050  # "RAPP"


@dataclass
class Runtime:
    """What stored jobs need from the running application."""

    db: Database
    channels: tuple[str, ...]
    frequency_cap: int
    wake_dispatcher: Callable[[], None]
    clock: Clock = utcnow
    """What the scheduler's own decisions read the time from: the firings, the
    sync and the lateness check (a simulated clock in tests)."""


_runtime: Runtime | None = None


def fire_campaign(campaign_id: int, now: datetime | None = None) -> None:
    """A scheduled firing: make the run for its planned slot, then wake the dispatcher.

    The slot is the time the schedule planned (a one-off's `run_at`, the
    cron's latest time), not the time the job happened to fire, so a late
    firing after downtime, a job re-added by a sync, or a second scheduler all
    name the same slot, and the database lets the slot have one run.
    """
    runtime = _runtime
    if runtime is None:
        log.warning("campaign %d fired with no running application; ignored", campaign_id)
        return
    now = now or runtime.clock()
    campaign = get_campaign(runtime.db, campaign_id)
    if not is_live(campaign, now):
        log.info("campaign %d is not live; firing ignored", campaign_id)
        return
    one_off = _is_one_off(campaign)
    slot = planned_slot(campaign, now)
    if local_slot_taken(runtime.db, campaign_id, campaign.timezone, slot):
        log.info("campaign %d already ran at this local time (clocks went back)", campaign_id)
        return
    summary = start_run(
        runtime.db,
        campaign_id,
        scheduled_for=slot,
        channels=runtime.channels,
        frequency_cap=runtime.frequency_cap,
        now=now,
        completes=one_off,
    )
    if summary.created:
        runtime.wake_dispatcher()


def _is_one_off(campaign: CampaignView | Campaign) -> bool:
    return campaign.schedule_cron is None and campaign.run_at is not None


def planned_slot(campaign: CampaignView | Campaign, now: datetime) -> datetime:
    """The slot a firing at `now` belongs to (see `fire_campaign`)."""
    if campaign.schedule_cron:
        window = timedelta(seconds=MISFIRE_GRACE_SECONDS + 60)
        planned = latest_fire_time(campaign.schedule_cron, campaign.timezone, now, window)
        if planned is not None:
            return planned
    elif campaign.run_at is not None:
        return campaign.run_at
    return now


def sync_jobs(scheduler: AsyncIOScheduler, db: Database, clock: Clock = utcnow) -> None:
    """Make the stored jobs match the campaigns table."""
    wanted: dict[str, Any] = {}
    now = clock()
    for campaign in list_campaigns(db):
        if campaign.status != CampaignStatus.ACTIVE:
            continue
        if campaign.ends_at is not None and campaign.ends_at <= now:
            continue
        if campaign.schedule_cron:
            trigger: Any = cron_trigger(campaign.schedule_cron, campaign.timezone)
            signature = f"cron {campaign.schedule_cron} {campaign.timezone}"
        elif campaign.run_at is not None and campaign.run_at > now - timedelta(
            seconds=MISFIRE_GRACE_SECONDS
        ):
            if slot_run(db, campaign.id, campaign.run_at) is not None:
                # It ran; marking it completed failed or predates this version.
                set_status(db, campaign.id, CampaignStatus.COMPLETED)
                continue
            trigger = DateTrigger(run_date=campaign.run_at)
            signature = f"date {campaign.run_at.isoformat()}"
        else:
            continue
        wanted[f"{JOB_PREFIX}{campaign.id}"] = (campaign.id, trigger, signature)
    current = {job.id: job for job in scheduler.get_jobs(jobstore="default")}
    for job_id in current:
        if job_id.startswith(JOB_PREFIX) and job_id not in wanted:
            scheduler.remove_job(job_id, jobstore="default")
            log.info("schedule removed for %s", job_id)
    for job_id, (campaign_id, trigger, signature) in wanted.items():
        existing = current.get(job_id)
        if existing is not None and existing.name == signature:
            continue
        scheduler.add_job(
            fire_campaign,
            trigger,
            args=[campaign_id],
            id=job_id,
            name=signature,
            jobstore="default",
            replace_existing=True,
        )
        log.info("schedule set for %s: %s", job_id, signature)


def refresh_values(db: Database, settings: Settings, now: datetime | None = None) -> None:
    """The daily value job: expire old points, then recompute values and loyalty tiers.

    Expiry goes first so the tiers and balances computed after it agree.
    """
    now = now or utcnow()
    expired = expire_points(db, settings.points_expire_months, now=now)
    stats = recompute_values(db, now, tiers=parse_tiers(settings.loyalty_tiers))
    log.info(
        "values recomputed for %d customer(s), %d with orders; %d tier change(s); "
        "%d point(s) expired",
        stats.customers,
        stats.with_orders,
        stats.tier_changes,
        expired,
    )


def _report_lateness(clock: Clock, event: JobEvent) -> None:
    if not event.job_id.startswith(JOB_PREFIX):
        return
    if event.code == EVENT_JOB_MISSED:
        log.warning("%s missed a firing beyond the grace period", event.job_id)
        return
    assert isinstance(event, JobSubmissionEvent)
    times: list[datetime] = event.scheduled_run_times
    if times and (clock() - times[0]).total_seconds() > 60:
        log.warning(
            "%s fired late: scheduled for %s, run once for %d missed firing(s)",
            event.job_id,
            times[0].isoformat(),
            len(times),
        )


class SchedulerLock:
    """One scheduler per database: PostgreSQL advisory lock or a lock file for SQLite."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Connection | None = None
        self._file: IO[str] | None = None
        self._held = False

    def acquire(self) -> bool:
        if self.db.dialect == "postgresql":
            self._conn = self.db.engine.connect()
            got = self._conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
            self._conn.commit()
            if not got:
                self._conn.close()
                self._conn = None
            self._held = self._held or bool(got)
            return bool(got)
        database = make_url(self.db.url).database
        path = Path(f"{database}.scheduler.lock") if database else None
        if path is None:  # in-memory database: one process by definition
            return True
        self._file = path.open("w")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            return False
        return True

    def refresh(self) -> None:
        """Take the lock again if a database outage took it away.

        PostgreSQL ends an advisory lock with its session, so after the server
        restarts this process would go on scheduling without the lock, and a
        second `rapport run` could start scheduling too. Run periodically.
        (Even then a campaign slot runs once: `start_run` is idempotent per
        slot; the lock keeps the second scheduler from starting at all.)
        """
        if not self._held or self.db.dialect != "postgresql":
            return
        if self._conn is not None:
            try:
                self._conn.scalar(text("SELECT 1"))
                self._conn.commit()
                return
            except DBAPIError as exc:
                if not is_outage(exc):
                    raise
                self._conn.invalidate()
                self._conn.close()
                self._conn = None
        if self.acquire():
            log.warning("scheduler lock taken again after a database outage")
        else:
            log.error(
                "another Rapport process took the scheduler lock during a database outage; "
                "stop one of them (each campaign slot still runs once)"
            )

    def release(self) -> None:
        if self._conn is not None:
            # The pool would keep the server session (and its lock) alive after close().
            try:
                self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                self._conn.commit()
            except DBAPIError as exc:
                if not is_outage(exc):
                    raise
                self._conn.invalidate()  # the session, and the lock with it, is gone already
            self._conn.close()
            self._conn = None
        self._held = False
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


SYNC_TASK = "scheduler-sync"
"""The supervised name of the job that reads campaign schedules into the scheduler."""


class SchedulerService:
    name = "scheduler"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        runtime: Runtime,
        *,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.db = db
        self.supervisor = supervisor or Supervisor(db)
        self.settings = settings
        self.runtime = runtime
        self.retention_months = settings.retention_months
        self.lock = SchedulerLock(db)
        self.scheduler = AsyncIOScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=db.engine),
                "internal": MemoryJobStore(),
            },
            job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
            timezone=settings.zone,
        )
        self.scheduler.add_listener(
            functools.partial(_report_lateness, runtime.clock),
            EVENT_JOB_MISSED | EVENT_JOB_SUBMITTED,
        )

    async def start(self) -> None:
        global _runtime
        if not await asyncio.to_thread(self.lock.acquire):
            raise SchedulerBusy("another Rapport process is scheduling for this database")
        _runtime = self.runtime
        self.scheduler.start()
        sync = functools.partial(sync_jobs, self.scheduler, self.db, self.runtime.clock)
        await asyncio.to_thread(sync)
        self.scheduler.add_job(
            self.supervisor.periodic(SYNC_TASK, sync),
            "interval",
            seconds=SYNC_SECONDS,
            id="sync",
            jobstore="internal",
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.lock.refresh,
            "interval",
            seconds=LOCK_CHECK_SECONDS,
            id="lock",
            jobstore="internal",
            replace_existing=True,
        )
        if self.retention_months:
            self.scheduler.add_job(
                enforce_retention,
                "cron",
                hour=RETENTION_HOUR,
                kwargs={"db": self.db, "months": self.retention_months},
                id="retention",
                jobstore="internal",
                replace_existing=True,
            )
        self.scheduler.add_job(
            refresh_values,
            "cron",
            hour=VALUES_HOUR,
            minute=VALUES_MINUTE,
            args=[self.db, self.settings],
            id="values",
            jobstore="internal",
            replace_existing=True,
        )
        log.info(
            "scheduler started with %d campaign schedule(s)",
            len(self.scheduler.get_jobs(jobstore="default")),
        )

    async def stop(self) -> None:
        global _runtime
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _runtime = None
        self.lock.release()


class SchedulerBusy(RapportError):
    """A second `rapport run` on the same database: refusing beats firing campaigns twice."""
