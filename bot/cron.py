"""A campaign's crontab as an APScheduler trigger that always moves forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from rapport.crm.campaigns.schedule import parse_crontab


# APScheduler 3 ships no type hints, so CronTrigger is Any to mypy.
class MonotonicCronTrigger(CronTrigger):  # type: ignore[misc]
    """APScheduler's cron trigger, made to always move forward.

    At the repeated hour when clocks go back (01:30 GMT after 01:30 BST),
    APScheduler 3.11 with zoneinfo computes the same fire time again and
    again, which would spin the scheduler's catch-up loop forever. When that
    happens we ask again from a little later; the doubled local time itself is
    handled by `rapport.crm.campaigns.runs.local_slot_taken`.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        result: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        step = timedelta(minutes=1)
        while (
            result is not None
            and previous_fire_time is not None
            and result <= previous_fire_time
            and step <= timedelta(days=2)
        ):
            probe = (previous_fire_time.astimezone(UTC) + step).astimezone(UTC)
            result = super().get_next_fire_time(None, max(now.astimezone(UTC), probe))
            step *= 2
        return result


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A standard five-field crontab expression in the given zone, DST-safe.

    Raises `InvalidSchedule` (a RapportError) for an expression the core refuses.
    """
    crontab = parse_crontab(expression)
    return MonotonicCronTrigger(
        minute=crontab.minute,
        hour=crontab.hour,
        day=crontab.day,
        month=crontab.month,
        day_of_week=crontab.day_of_week,
        timezone=ZoneInfo(timezone),
    )


def latest_fire_time(
    expression: str, timezone: str, now: datetime, window: timedelta
) -> datetime | None:
    """The schedule's last planned time at or before `now`, looking back `window` at most.

    A firing is identified by this planned time, not by when the scheduler got
    round to it: a late or repeated firing then names the same slot, and the
    database's unique key on (campaign, slot) makes it run once.
    """
    trigger = cron_trigger(expression, timezone)
    found: datetime | None = None
    previous: datetime | None = None
    probe = now - window
    while True:
        planned = trigger.get_next_fire_time(previous, probe)
        if planned is None or planned > now:
            return found
        found, previous, probe = planned, planned, planned + timedelta(seconds=1)


def next_fire_time(expression: str, timezone: str, now: datetime) -> datetime | None:
    """The schedule's next planned time after `now` (for `campaigns list`)."""
    planned: datetime | None = cron_trigger(expression, timezone).get_next_fire_time(
        None, now + timedelta(seconds=1)
    )
    return planned
