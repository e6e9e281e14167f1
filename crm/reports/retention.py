"""Acquisition and retention: who came, by which channel, and who stayed.

Plain data series for tables and charts (the staff report set draws them):

Months are the business's calendar months (`zone`, RAPPORT_TIMEZONE; UTC
when not given), bucketed by `rapport.crm.reports.buckets`.

- **Acquisition**: new customers per calendar month of their first
  contact (`customers.created_at`), by first channel, optionally only those a
  segment picks now.
- **Retention cohorts**: customers grouped by month of first contact; for
  each month since, the share who were *active*, that is, wrote to us
  (inbound, not automated) or placed an order in that month.
- **Churn and reactivation** per month, with a dormancy window W (90 days by
  default): *churned* are customers whose last activity fell W days before
  some moment in the month (they crossed W days of silence in it);
  *reactivated* are customers active in the month who had been active before
  but not in the W days before the month began.

Erased customers are left out of all of these. Each figure is a SQL
aggregate; a share over an empty cohort is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    Subquery,
    and_,
    case,
    func,
    literal,
    select,
    union_all,
)

from rapport.crm.database import Database
from rapport.crm.models import Customer, Direction, Interaction, Order
from rapport.crm.reports.buckets import local_label
from rapport.crm.segments.compilation import rule_condition
from rapport.crm.segments.saved import get_segment, segment_rule

DORMANCY_DAYS = 90


@dataclass(frozen=True, slots=True)
class AcquisitionRow:
    month: str
    """YYYY-MM"""
    channel: str
    customers: int


@dataclass(frozen=True, slots=True)
class Cohort:
    month: str
    size: int
    active: list[int]
    """Active customers in month 0 (the first-contact month), 1, 2, … up to now."""

    @property
    def shares(self) -> list[float | None]:
        return [None if not self.size else n / self.size for n in self.active]


@dataclass(frozen=True, slots=True)
class ChurnRow:
    month: str
    new: int
    active: int
    churned: int
    reactivated: int


UTC_ZONE = ZoneInfo("UTC")


def month_start(moment: datetime | date, zone: ZoneInfo | None = None) -> datetime:
    """The start of the moment's calendar month in `zone` (UTC by default)."""
    if isinstance(moment, datetime) and zone is not None:
        moment = moment.astimezone(zone)
    return datetime(moment.year, moment.month, 1, tzinfo=zone or UTC)


def month_key(moment: datetime, zone: ZoneInfo | None = None) -> str:
    """YYYY-MM of the moment in `zone` (UTC by default)."""
    local = moment.astimezone(zone or UTC)
    return f"{local.year:04d}-{local.month:02d}"


def add_months(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    return moment.replace(year=year, month=month + 1, day=1)


def months_between(earlier: str, later: str) -> int:
    (y1, m1), (y2, m2) = (map(int, earlier.split("-")), map(int, later.split("-")))
    return (y2 - y1) * 12 + (m2 - m1)


def _month(
    db: Database,
    column: SQLColumnExpression[Any],
    start: datetime,
    end: datetime,
    zone: ZoneInfo | None,
) -> ColumnElement[str]:
    """YYYY-MM of the business's month `column` falls in (rows in [start, end))."""
    return local_label(db.dialect, column, start, end, zone or UTC_ZONE, 7)


def _activity() -> Subquery:
    """(customer_id, at) of every inbound message and every order."""
    return union_all(
        select(Interaction.customer_id.label("customer_id"), Interaction.sent_at.label("at")).where(
            Interaction.direction == Direction.IN.value, Interaction.automated.is_(False)
        ),
        select(Order.customer_id.label("customer_id"), Order.ordered_at.label("at")),
    ).subquery("activity")


def acquisition(
    db: Database,
    start: datetime,
    end: datetime,
    *,
    segment: str | None = None,
    now: datetime,
    zone: ZoneInfo | None = None,
) -> list[AcquisitionRow]:
    """New customers per month and first channel, first contact in [start, end)."""
    month = _month(db, Customer.created_at, start, end, zone).label("month")
    where = [Customer.erased_at.is_(None), Customer.created_at >= start, Customer.created_at < end]
    if segment is not None:
        where.append(rule_condition(segment_rule(get_segment(db, segment)), now))
    query = (
        select(month, Customer.first_seen_channel, func.count())
        .where(*where)
        .group_by(month, Customer.first_seen_channel)
        .order_by(month, Customer.first_seen_channel)
    )
    with db.session() as session:
        return [AcquisitionRow(m, ch, n) for m, ch, n in session.execute(query)]


def retention_cohorts(
    db: Database, start: datetime, now: datetime, *, zone: ZoneInfo | None = None
) -> list[Cohort]:
    """Cohorts by month of first contact from `start` to now, active share per month since."""
    activity = _activity()
    cohort = _month(db, Customer.created_at, start, now, zone).label("cohort")
    active_month = _month(db, activity.c.at, start, now, zone).label("active_month")
    in_range = [
        Customer.erased_at.is_(None),
        Customer.created_at >= start,
        Customer.created_at <= now,
    ]
    with db.session() as session:
        sizes = dict(
            session.execute(select(cohort, func.count()).where(*in_range).group_by(cohort)).all()
        )
        counts = session.execute(
            select(cohort, active_month, func.count(func.distinct(Customer.id)))
            .join(activity, activity.c.customer_id == Customer.id)
            .where(*in_range, activity.c.at <= now)
            .group_by(cohort, active_month)
        ).all()
    current = month_key(now, zone)
    cohorts = {
        m: Cohort(m, int(n), [0] * (months_between(m, current) + 1)) for m, n in sizes.items()
    }
    for month, active, n in counts:
        if active is None or month not in cohorts:
            continue  # activity before the first month shown
        k = months_between(month, active)
        if 0 <= k < len(cohorts[month].active):
            cohorts[month].active[k] = int(n)
    return [cohorts[m] for m in sorted(cohorts)]


def churn_and_reactivation(
    db: Database, start: datetime, months: int, *, dormancy_days: int = DORMANCY_DAYS
) -> list[ChurnRow]:
    """Per month from `start`: new, active, churned and reactivated customers (see above)."""
    window = timedelta(days=dormancy_days)
    activity = _activity()
    a = activity.c
    rows: list[ChurnRow] = []
    with db.session() as session:
        for n in range(months):
            lo = add_months(month_start(start), n)
            hi = add_months(lo, 1)

            def flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
                return func.max(case((condition, 1), else_=0))

            per = (
                select(
                    a.customer_id,
                    flag(a.at >= lo).label("in_month"),
                    flag(and_(a.at >= lo - window, a.at < lo)).label("recent"),
                    flag(a.at < lo - window).label("before"),
                    func.max(a.at).label("last"),
                )
                .join(Customer, Customer.id == a.customer_id)
                .where(a.at < hi, Customer.erased_at.is_(None))
                .group_by(a.customer_id)
                .subquery()
            )

            def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
                return func.coalesce(func.sum(case((condition, 1), else_=0)), literal(0))

            active, churned, reactivated = session.execute(
                select(
                    count_if(per.c.in_month == 1),
                    count_if(and_(per.c.last >= lo - window, per.c.last < hi - window)),
                    count_if(and_(per.c.in_month == 1, per.c.recent == 0, per.c.before == 1)),
                )
            ).one()
            new = session.scalar(
                select(func.count()).where(
                    Customer.erased_at.is_(None),
                    Customer.created_at >= lo,
                    Customer.created_at < hi,
                )
            )
            rows.append(
                ChurnRow(f"{lo:%Y-%m}", int(new or 0), int(active), int(churned), int(reactivated))
            )
    return rows
