"""The one APScheduler instance, with its jobs stored in Rapport's database.

Jobs live in the `apscheduler_jobs` table (created by our migration, not by
APScheduler) so schedules survive restarts and every process sees the same
ones; only `rapport run` starts a scheduler, workers never do.
"""

from __future__ import annotations

import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.services import Disabled, Service
from crm.database import Database
from crm.settings import Settings

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600


class SchedulerService:
    name = "scheduler"

    def __init__(self, settings: Settings, db: Database) -> None:
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=db.engine)},
            job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
            timezone=settings.zone,
        )

    async def start(self) -> None:
        self.scheduler.start()
        log.info("scheduler started with %d stored job(s)", len(self.scheduler.get_jobs()))

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def scheduler_service(settings: Settings, db: Database) -> Service | Disabled:
    return SchedulerService(settings, db)
