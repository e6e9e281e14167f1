"""Daily series for the charts: survey answers per segment and sentiment per day.

The same definitions as the programme figures (rapport.crm.reports.programmes,
docs/reports.md), grouped by calendar day instead of summed over a period:
each series is one grouped SQL pass, its days the business's own when a
zone and a period are given (rapport.crm.reports.buckets).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, func, literal, select

from rapport.crm.database import Database
from rapport.crm.models import Campaign, Delivery, Direction, Interaction, Segment, SurveyResponse
from rapport.crm.reports.buckets import local_label
from rapport.crm.reports.programmes import Period, in_period

SENTIMENT_NEUTRAL_BAND = 0.05
"""Without thresholds given: polarity within ±this of zero counts as neutral."""


@dataclass(frozen=True, slots=True)
class SatisfactionPoint:
    """One segment's survey answers on one day (the business's day when a zone is given)."""

    day: date
    segment: str
    csat_answers: int
    csat_mean: float | None
    nps_answers: int
    nps: float | None


@dataclass(frozen=True, slots=True)
class SentimentPoint:
    """Scored inbound interactions on one day: mean polarity and the split."""

    day: date
    scored: int
    mean_polarity: float
    positive: int
    neutral: int
    negative: int


def _day(
    db: Database,
    column: SQLColumnExpression[datetime],
    period: Period | None,
    zone: ZoneInfo | None,
) -> ColumnElement[object]:
    """The calendar day of a timestamp: the business's day over a period, else the UTC day.

    With a zone and a period, the business's day (rapport.crm.reports.buckets:
    `timezone()` on PostgreSQL, the period's UTC offsets, daylight saving
    included, on SQLite). Without
    them: SQLite stores UTC already, as text starting with the date (cheaper
    to cut than to parse); PostgreSQL would use the session's time zone
    unless told otherwise.
    """
    if zone is not None and period is not None:
        return local_label(db.dialect, column, period.start, period.end, zone, 10)
    if db.dialect == "sqlite":
        return func.substr(column, 1, 10)
    return func.date(func.timezone("UTC", column))


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def satisfaction_by_day(
    db: Database, *, period: Period | None = None, zone: ZoneInfo | None = None
) -> list[SatisfactionPoint]:
    """CSAT mean and NPS per segment per day the customers answered (programme definitions).

    A survey answer belongs to its campaign's segment and to the day of the
    customer's reply (`responded_at`), so a late answer counts when it came.
    Days are the business's (`zone`) when a period is given, else UTC days.
    """
    answered = func.coalesce(Delivery.responded_at, SurveyResponse.created_at)
    day = _day(db, answered, period, zone).label("day")

    csat = and_(Campaign.survey_kind == "csat", SurveyResponse.score.is_not(None))
    nps = and_(Campaign.survey_kind == "nps", SurveyResponse.score.is_not(None))
    # Labelled in a subquery, grouped outside: PostgreSQL groups by a CASE with bound
    # boundaries only when it sees one expression, not the same text twice.
    answers = (
        select(
            Segment.name.label("segment"),
            day,
            case((csat, 1), else_=0).label("csat"),
            case((csat, SurveyResponse.score)).label("csat_score"),
            case((nps, 1), else_=0).label("nps"),
            case((and_(nps, SurveyResponse.score >= 9), 1), else_=0).label("promoter"),
            case((and_(nps, SurveyResponse.score <= 6), 1), else_=0).label("detractor"),
        )
        .select_from(SurveyResponse)
        .join(Delivery, Delivery.id == SurveyResponse.delivery_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .join(Segment, Segment.id == Campaign.segment_id)
        .where(*in_period(answered, period))
        .subquery()
    )
    a = answers.c
    query = (
        select(
            a.segment,
            a.day,
            func.coalesce(func.sum(a.csat), 0),
            func.avg(a.csat_score),
            func.coalesce(func.sum(a.nps), 0),
            func.coalesce(func.sum(a.promoter), 0),
            func.coalesce(func.sum(a.detractor), 0),
        )
        .where(a.day.is_not(None))
        .group_by(a.segment, a.day)
        .order_by(a.segment, a.day)
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


def sentiment_by_day(
    db: Database,
    *,
    period: Period | None = None,
    zone: ZoneInfo | None = None,
    positive_from: float | None = None,
    negative_to: float | None = None,
) -> list[SentimentPoint]:
    """Sentiment of what customers wrote (inbound, not automated, scored), per day.

    Positive is polarity at or above `positive_from`, negative at or below
    `negative_to` (the settings' thresholds, docs/sentiment.md); without them,
    beyond ±SENTIMENT_NEUTRAL_BAND. Days as in `satisfaction_by_day`.
    """
    day = _day(db, Interaction.sent_at, period, zone).label("day")
    band = SENTIMENT_NEUTRAL_BAND
    is_positive = (
        Interaction.polarity >= positive_from
        if positive_from is not None
        else Interaction.polarity > band
    )
    is_negative = (
        Interaction.polarity <= negative_to
        if negative_to is not None
        else Interaction.polarity < -band
    )

    scored = (
        select(
            day,
            Interaction.polarity.label("polarity"),
            case((is_positive, 1), else_=0).label("positive"),
            case((is_negative, 1), else_=0).label("negative"),
        )
        .where(
            # A literal, not a parameter: SQLite uses the partial index
            # ix_interactions_sentiment only when it can see the value.
            Interaction.direction == literal(Direction.IN.value, literal_execute=True),
            Interaction.automated.is_(False),
            Interaction.polarity.is_not(None),
            *in_period(Interaction.sent_at, period),
        )
        .subquery()
    )
    m = scored.c
    query = (
        select(
            m.day, func.count(), func.avg(m.polarity), func.sum(m.positive), func.sum(m.negative)
        )
        .where(m.day.is_not(None))
        .group_by(m.day)
        .order_by(m.day)
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
