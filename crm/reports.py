"""Programme reports: whether loyalty and feedback campaigns work, in numbers.

Every figure is one SQL aggregate over deliveries, survey responses and
interactions, defined once here; docs/reports.md gives the same definitions
in words. A rate whose denominator is zero is None ("no data"), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    and_,
    case,
    exists,
    func,
    literal,
    select,
    type_coerce,
)

from crm.database import Database
from crm.errors import NotFound
from crm.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Direction,
    Interaction,
    Segment,
    SurveyResponse,
)

ENGAGEMENT_WINDOW = timedelta(days=7)
"""Any message from the customer within this time after a delivery counts as engagement."""


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def previous(self) -> Period:
        length = self.end - self.start
        return Period(self.start - length, self.start)

    @classmethod
    def last_days(cls, days: int, now: datetime) -> Period:
        return cls(now - timedelta(days=days), now)


@dataclass(frozen=True, slots=True)
class ProgrammeMetrics:
    targeted: int
    delivered: int
    failed: int
    pending: int
    skipped: dict[str, int]
    responded: int
    engaged: int
    survey_answers: int
    csat_mean: float | None
    csat_satisfied_pct: float | None
    nps: float | None
    cost: float | None

    @property
    def response_rate(self) -> float | None:
        """Explicit replies and survey answers ÷ delivered."""
        return _ratio(self.responded, self.delivered)

    @property
    def participation_rate(self) -> float | None:
        """Customers who responded or wrote to us within 7 days ÷ delivered."""
        return _ratio(self.engaged, self.delivered)

    @property
    def cost_per_participant(self) -> float | None:
        if self.cost is None or not self.engaged:
            return None
        return self.cost / self.engaged

    def as_row(self) -> dict[str, object]:
        row: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        row["skipped"] = sum(self.skipped.values())
        row.update(
            response_rate=self.response_rate,
            participation_rate=self.participation_rate,
            cost_per_participant=self.cost_per_participant,
        )
        return row


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _engaged_condition(dialect: str) -> ColumnElement[bool]:
    i = Interaction.__table__.c
    d = Delivery.__table__.c
    if dialect == "sqlite":
        # SQLite cannot add an interval to a column: compare Julian day numbers.
        within_window = func.julianday(i.sent_at) < func.julianday(d.sent_at) + (
            ENGAGEMENT_WINDOW.total_seconds() / 86400
        )
    else:
        within_window = i.sent_at < type_coerce(d.sent_at, DateTime(timezone=True)) + literal(
            ENGAGEMENT_WINDOW, Interval()
        )
    wrote_back = exists().where(
        i.customer_id == d.customer_id,
        i.direction == Direction.IN.value,
        i.automated.is_(False),
        i.sent_at >= d.sent_at,
        within_window,
    )
    return and_(d.status == DeliveryStatus.SENT.value, (d.responded_at.is_not(None)) | wrote_back)


def programme_metrics(
    db: Database, *, campaign_ids: list[int] | None = None, period: Period | None = None
) -> ProgrammeMetrics:
    """Metrics over the deliveries of these campaigns (all when None) made in the period."""
    d = Delivery.__table__.c
    r = SurveyResponse.__table__.c
    c = Campaign.__table__.c
    where: list[ColumnElement[bool]] = []
    if campaign_ids is not None:
        where.append(d.campaign_id.in_(campaign_ids))
    if period is not None:
        where += [d.created_at >= period.start, d.created_at < period.end]
    engaged_sql = _engaged_condition(db.dialect)

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    with db.session() as session:
        totals = session.execute(
            select(
                func.count(),
                count_if(d.status == DeliveryStatus.SENT.value),
                count_if(d.status == DeliveryStatus.FAILED.value),
                count_if(
                    d.status.in_(
                        [
                            DeliveryStatus.QUEUED.value,
                            DeliveryStatus.CLAIMED.value,
                            DeliveryStatus.SENDING.value,
                        ]
                    )
                ),
                count_if(and_(d.status == DeliveryStatus.SENT.value, d.responded_at.is_not(None))),
                count_if(engaged_sql),
            ).where(*where)
        ).one()
        skipped = dict(
            session.execute(
                select(d.skip_reason, func.count())
                .where(d.status == DeliveryStatus.SKIPPED.value, *where)
                .group_by(d.skip_reason)
            ).all()
        )
        answers = session.execute(
            select(
                func.count(r.id),
                func.avg(case((c.survey_kind == "csat", r.score))),
                count_if(and_(c.survey_kind == "csat", r.score.is_not(None))),
                count_if(and_(c.survey_kind == "csat", r.score >= 4)),
                count_if(and_(c.survey_kind == "nps", r.score.is_not(None))),
                count_if(and_(c.survey_kind == "nps", r.score >= 9)),
                count_if(and_(c.survey_kind == "nps", r.score <= 6)),
            )
            .select_from(SurveyResponse.__table__)
            .join(Delivery.__table__, d.id == r.delivery_id)
            .join(Campaign.__table__, c.id == d.campaign_id)
            .where(*where)
        ).one()
        cost = None
        if campaign_ids is not None:
            cost = session.scalar(
                select(func.sum(c.cost)).where(c.id.in_(campaign_ids), c.cost.is_not(None))
            )
    n_answers, csat_avg, csat_n, satisfied, nps_n, promoters, detractors = answers
    return ProgrammeMetrics(
        targeted=totals[0],
        delivered=int(totals[1]),
        failed=int(totals[2]),
        pending=int(totals[3]),
        skipped={k or "unknown": v for k, v in skipped.items()},
        responded=int(totals[4]),
        engaged=int(totals[5]),
        survey_answers=n_answers,
        csat_mean=None if csat_avg is None else round(float(csat_avg), 2),
        csat_satisfied_pct=None if not csat_n else round(100 * satisfied / csat_n, 1),
        nps=None if not nps_n else round(100 * (promoters - detractors) / nps_n, 1),
        cost=None if cost is None else float(cost),
    )


def campaign_ids_for_segment(db: Database, segment: str) -> list[int]:
    with db.session() as session:
        return list(
            session.scalars(
                select(Campaign.id)
                .join(Segment, Segment.id == Campaign.segment_id)
                .where(Segment.name == segment)
            )
        )


# --- Series over time (charts) ---------------------------------------------------------

SENTIMENT_NEUTRAL_BAND = 0.05
"""Polarity within ±this of zero counts as neutral in the sentiment distribution."""


@dataclass(frozen=True, slots=True)
class SatisfactionPoint:
    """One segment's survey answers on one UTC day."""

    day: date
    segment: str
    csat_answers: int
    csat_mean: float | None
    nps_answers: int
    nps: float | None


@dataclass(frozen=True, slots=True)
class SentimentPoint:
    """Scored inbound interactions on one UTC day: mean polarity and the split."""

    day: date
    scored: int
    mean_polarity: float
    positive: int
    neutral: int
    negative: int


def _utc_day(db: Database, column: ColumnElement[datetime]) -> ColumnElement[object]:
    """The UTC calendar day of a timestamp, on either database.

    SQLite stores UTC already; PostgreSQL would use the session's time zone
    unless told otherwise.
    """
    if db.dialect == "sqlite":
        return func.date(column)
    return func.date(func.timezone("UTC", column))


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _in(column: ColumnElement[datetime], period: Period | None) -> list[ColumnElement[bool]]:
    return [] if period is None else [column >= period.start, column < period.end]


def satisfaction_by_day(db: Database, *, period: Period | None = None) -> list[SatisfactionPoint]:
    """CSAT mean and NPS per segment per day the customers answered (same definitions as above).

    A survey answer belongs to its campaign's segment and to the day of the
    customer's reply (`responded_at`), so a late answer counts when it came.
    """
    d = Delivery.__table__.c
    r = SurveyResponse.__table__.c
    c = Campaign.__table__.c
    s = Segment.__table__.c
    answered = func.coalesce(d.responded_at, r.created_at)
    day = _utc_day(db, answered).label("day")

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    csat = and_(c.survey_kind == "csat", r.score.is_not(None))
    nps = and_(c.survey_kind == "nps", r.score.is_not(None))
    query = (
        select(
            s.name,
            day,
            count_if(csat),
            func.avg(case((csat, r.score))),
            count_if(nps),
            count_if(and_(nps, r.score >= 9)),
            count_if(and_(nps, r.score <= 6)),
        )
        .select_from(SurveyResponse.__table__)
        .join(Delivery.__table__, d.id == r.delivery_id)
        .join(Campaign.__table__, c.id == d.campaign_id)
        .join(Segment.__table__, s.id == c.segment_id)
        .where(*_in(answered, period))
        .group_by(s.name, day)
        .order_by(s.name, day)
    )
    with db.session() as session:
        rows = session.execute(query).all()
    return [
        SatisfactionPoint(
            day=_as_date(when),
            segment=name,
            csat_answers=int(csat_n),
            csat_mean=None if csat_avg is None else round(float(csat_avg), 2),
            nps_answers=int(nps_n),
            nps=None if not nps_n else round(100 * (int(pro) - int(det)) / int(nps_n), 1),
        )
        for name, when, csat_n, csat_avg, nps_n, pro, det in rows
    ]


def sentiment_by_day(db: Database, *, period: Period | None = None) -> list[SentimentPoint]:
    """Sentiment of what customers wrote (inbound, not automated, scored), per UTC day."""
    i = Interaction.__table__.c
    day = _utc_day(db, i.sent_at).label("day")
    band = SENTIMENT_NEUTRAL_BAND

    def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = (
        select(
            day,
            func.count(),
            func.avg(i.polarity),
            count_if(i.polarity > band),
            count_if(i.polarity < -band),
        )
        .where(
            i.direction == Direction.IN.value,
            i.automated.is_(False),
            i.polarity.is_not(None),
            *_in(i.sent_at, period),
        )
        .group_by(day)
        .order_by(day)
    )
    with db.session() as session:
        rows = session.execute(query).all()
    return [
        SentimentPoint(
            day=_as_date(when),
            scored=int(n),
            mean_polarity=round(float(mean), 3),
            positive=int(pos),
            neutral=int(n) - int(pos) - int(neg),
            negative=int(neg),
        )
        for when, n, mean, pos, neg in rows
    ]


def metrics_per_campaign(
    db: Database, *, period: Period | None = None
) -> list[tuple[int, str, ProgrammeMetrics]]:
    """(id, name, metrics) for every campaign, in id order."""
    with db.session() as session:
        campaigns = session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.id)).all()
    return [
        (cid, name, programme_metrics(db, campaign_ids=[cid], period=period))
        for cid, name in campaigns
    ]


def metrics_per_segment(
    db: Database, *, period: Period | None = None
) -> list[tuple[int, str, ProgrammeMetrics]]:
    """(id, name, metrics) for every segment over its campaigns, in id order."""
    with db.session() as session:
        segments = session.execute(select(Segment.id, Segment.name).order_by(Segment.id)).all()
    found = []
    for sid, name in segments:
        ids = campaign_ids_for_segment(db, name)
        found.append((sid, name, programme_metrics(db, campaign_ids=ids, period=period)))
    return found


def segment_campaign_ids(db: Database, segment: str) -> list[int]:
    """Like `campaign_ids_for_segment`, but an unknown segment is an error, not "no data"."""
    with db.session() as session:
        if session.scalar(select(Segment.id).where(Segment.name == segment)) is None:
            raise NotFound(f"no segment {segment!r}")
    return campaign_ids_for_segment(db, segment)
