"""The desk, value, retention, churn and acquisition reports as listings, for every front end.

`rapport report desk|retention|churn|acquisition`, `rapport customers values`
and the console's report pages all build their tables here, from the same
crm queries with the same periods, so a page and the CLI's `--format csv`
cannot disagree: the console's CSV download is `listing_csv` of the very
listing the CLI prints.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rapport.bot.present.listing import Listing
from rapport.bot.present.lists import tier_listing
from rapport.bot.present.reports import (
    acquisition_listing,
    churn_listing,
    cohort_listing,
    desk_listing,
)
from rapport.crm.database import Database
from rapport.crm.desk.report import desk_report
from rapport.crm.desk.rules import load_rules
from rapport.crm.errors import InvalidInput
from rapport.crm.reports.programmes import Period
from rapport.crm.reports.retention import (
    acquisition,
    add_months,
    churn_and_reactivation,
    month_key,
    month_start,
    retention_cohorts,
)
from rapport.crm.settings import Settings
from rapport.crm.value.scores import value_tier_counts


def period_between(first: date, last: date, zone: ZoneInfo) -> Period:
    """From the start of day `first` to the end of day `last`, both in the business's zone."""
    if last < first:
        raise InvalidInput("the period ends before it starts")
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return Period(start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC")))


def desk(db: Database, settings: Settings, period: Period, now: datetime) -> Listing:
    """Contact-policy timings of the conversations opened in `period`."""
    return desk_listing(desk_report(db, load_rules(settings), period, now), settings.zone)


def value(db: Database) -> Listing:
    """Customers, spend and predicted spend per value tier (`rapport customers values`)."""
    return tier_listing(value_tier_counts(db))


def retention(db: Database, zone: ZoneInfo, months: int, now: datetime) -> Listing:
    """Cohorts of the last `months` months of first contact, this one included."""
    start = add_months(month_start(now, zone), 1 - months)
    return cohort_listing(retention_cohorts(db, start, now, zone=zone), now, zone)


def churn(db: Database, zone: ZoneInfo, months: int, dormancy_days: int, now: datetime) -> Listing:
    """New, active, churned and reactivated customers per month."""
    start = add_months(month_start(now, zone), 1 - months)
    rows = churn_and_reactivation(db, start, months, dormancy_days=dormancy_days)
    return churn_listing(rows, month_key(now, zone), now, zone, dormancy_days)


def acquisitions(
    db: Database, zone: ZoneInfo, months: int, segment: str | None, now: datetime
) -> Listing:
    """New customers per month of first contact and first channel, optionally one segment's."""
    start = add_months(month_start(now, zone), 1 - months)
    end = add_months(month_start(now, zone), 1)
    by_month: dict[str, dict[str, int]] = {}
    for r in acquisition(db, start, end, segment=segment, now=now, zone=zone):
        by_month.setdefault(r.month, {})[r.channel] = r.customers
    labels = [month_key(add_months(start, n)) for n in range(months)]
    return acquisition_listing(labels, by_month, month_key(now, zone), now, zone)
