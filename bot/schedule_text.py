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


def schedule_words(campaign: CampaignView, zone: ZoneInfo | None = None) -> str:
    """The schedule in words: a cron in its own zone; a one-off time in `zone` (the
    business's, as listings show times), else the campaign's."""
    if campaign.schedule_cron:
        return f"cron '{campaign.schedule_cron}' {campaign.timezone}"
    if campaign.run_at:
        shown = zone or ZoneInfo(campaign.timezone)
        return f"once at {campaign.run_at.astimezone(shown):%Y-%m-%d %H:%M %Z}"
    return "run by hand"


def parse_local_time(value: str | None, zone: str) -> datetime | None:
    """ISO date-time (`--at`, the console's schedule form); without an offset it is in
    `zone`, the campaign's time zone."""
    from rapport.crm.campaigns.definitions import InvalidCampaign

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCampaign(f"bad date-time {value!r}: use ISO form, 2026-12-01T09:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))
