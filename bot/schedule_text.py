"""A campaign's schedule in words for staff: what it is and when it next runs, shop time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rapport.bot.cron import next_fire_time
from rapport.bot.scheduler import MISFIRE_GRACE_SECONDS
from rapport.crm.campaigns.definitions import CampaignView
from rapport.crm.models import CampaignStatus


def next_run(campaign: CampaignView, zone: ZoneInfo, now: datetime) -> str:
    """When `rapport run` fires it next, in the business's time zone, or why it will not."""
    if campaign.status == CampaignStatus.COMPLETED:
        return "— (one-off, done)"
    if campaign.status != CampaignStatus.ACTIVE:
        return f"— ({campaign.status})"
    if campaign.ends_at is not None and campaign.ends_at <= now:
        return "— (its window has ended)"
    planned: datetime | None = None
    if campaign.schedule_cron:
        after = max(now, campaign.starts_at) if campaign.starts_at else now
        planned = next_fire_time(campaign.schedule_cron, campaign.timezone, after)
    elif campaign.run_at is not None:
        if campaign.run_at <= now - timedelta(seconds=MISFIRE_GRACE_SECONDS):
            return "— (missed: `rapport run` was not running then)"
        planned = max(campaign.run_at, now)
    else:
        return "— (by hand: run-now)"
    if planned is None or (campaign.ends_at is not None and planned >= campaign.ends_at):
        return "— (no time left in its window)"
    return f"{planned.astimezone(zone):%Y-%m-%d %H:%M %Z}"
