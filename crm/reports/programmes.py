"""Programme reports: whether loyalty and feedback campaigns work, in numbers.

Every figure is one SQL aggregate over deliveries, survey responses and
interactions, defined once here; docs/reports.md gives the same definitions
in words. A rate whose denominator is zero is None ("no data"), never 0.

All programme figures are sums of per-campaign counts (`_Tally`), so one
grouped pass per period serves the whole programme, each campaign and each
segment; whether a customer wrote back after a delivery is kept on the
delivery by ingest (rapport.crm.interactions.engagement) rather than searched for per report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, func, or_, select
from sqlalchemy.orm import Session

from rapport.crm.database import Database
from rapport.crm.errors import UnknownName
from rapport.crm.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Segment,
    SurveyResponse,
)


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
    bounced: int = 0
    """Mails handed over that came back as bounces (counted in `failed` too)."""

    @property
    def bounce_rate(self) -> float | None:
        """Bounced ÷ mails handed over (delivered + bounced)."""
        return _ratio(self.bounced, self.delivered + self.bounced)

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
            bounce_rate=self.bounce_rate,
            response_rate=self.response_rate,
            participation_rate=self.participation_rate,
            cost_per_participant=self.cost_per_participant,
        )
        return row


def in_period(
    column: SQLColumnExpression[datetime], period: Period | None
) -> list[ColumnElement[bool]]:
    """The conditions keeping `column` inside the period (none without one)."""
    return [] if period is None else [column >= period.start, column < period.end]


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass(slots=True)
class _Tally:
    """Additive counts over some deliveries; a report over many campaigns is their sum.

    Every figure of `ProgrammeMetrics` is a count, a sum or a ratio of two of
    them, so one grouped pass per period (by campaign) serves the whole
    programme, each campaign and each segment alike.
    """

    targeted: int = 0
    delivered: int = 0
    failed: int = 0
    bounced: int = 0
    pending: int = 0
    responded: int = 0
    engaged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    survey_answers: int = 0
    csat_answers: int = 0
    csat_total: int = 0
    csat_satisfied: int = 0
    nps_answers: int = 0
    promoters: int = 0
    detractors: int = 0

    def add(self, other: _Tally) -> None:
        for f in fields(self):
            if f.name != "skipped":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.skipped.update(other.skipped)

    def metrics(self, cost: float | None) -> ProgrammeMetrics:
        return ProgrammeMetrics(
            targeted=self.targeted,
            delivered=self.delivered,
            failed=self.failed,
            pending=self.pending,
            skipped=dict(sorted(self.skipped.items())),
            responded=self.responded,
            engaged=self.engaged,
            survey_answers=self.survey_answers,
            csat_mean=None
            if not self.csat_answers
            else round(self.csat_total / self.csat_answers, 2),
            csat_satisfied_pct=None
            if not self.csat_answers
            else round(100 * self.csat_satisfied / self.csat_answers, 1),
            nps=None
            if not self.nps_answers
            else round(100 * (self.promoters - self.detractors) / self.nps_answers, 1),
            cost=cost,
            bounced=self.bounced,
        )


def _delivery_filter(
    campaign_ids: list[int] | None, period: Period | None
) -> list[ColumnElement[bool]]:
    where = in_period(Delivery.created_at, period)
    if campaign_ids is not None:
        where.append(Delivery.campaign_id.in_(campaign_ids))
    return where


def _tallies(
    db: Database, campaign_ids: list[int] | None, period: Period | None
) -> dict[int, _Tally]:
    """One `_Tally` per campaign with deliveries made in the period: three grouped statements."""
    where = _delivery_filter(campaign_ids, period)
    found: dict[int, _Tally] = defaultdict(_Tally)
    with db.session() as session:
        _count_deliveries(session, where, found)
        _count_skipped(session, where, found)
        _count_answers(session, where, found)
    return found


_SENT = Delivery.status == DeliveryStatus.SENT.value
_PENDING = [DeliveryStatus.QUEUED.value, DeliveryStatus.CLAIMED.value, DeliveryStatus.SENDING.value]


def _count_deliveries(
    session: Session, where: list[ColumnElement[bool]], found: dict[int, _Tally]
) -> None:
    """Delivery counts by status, responded and engaged: one scan in campaign order.

    Engaged reads `wrote_back_at`, which ingest keeps (rapport.crm.interactions.engagement), instead
    of searching the customer's messages for every delivery.
    """
    answered = Delivery.responded_at.is_not(None)
    query = (
        select(
            Delivery.campaign_id,
            func.count(),
            _count_if(_SENT),
            _count_if(Delivery.status == DeliveryStatus.FAILED.value),
            _count_if(Delivery.bounced_at.is_not(None)),
            _count_if(Delivery.status.in_(_PENDING)),
            _count_if(and_(_SENT, answered)),
            _count_if(and_(_SENT, or_(answered, Delivery.wrote_back_at.is_not(None)))),
        )
        .where(*where)
        .group_by(Delivery.campaign_id)
    )
    for cid, *counts in session.execute(query):
        tally = found[cid]
        (
            tally.targeted,
            tally.delivered,
            tally.failed,
            tally.bounced,
            tally.pending,
            tally.responded,
            tally.engaged,
        ) = map(int, counts)


def _count_skipped(
    session: Session, where: list[ColumnElement[bool]], found: dict[int, _Tally]
) -> None:
    """Skipped deliveries by reason (a separate statement: grouping the scan above by
    reason too would sort all its rows, not only the skipped ones)."""
    query = (
        select(Delivery.campaign_id, Delivery.skip_reason, func.count())
        .where(Delivery.status == DeliveryStatus.SKIPPED.value, *where)
        .group_by(Delivery.campaign_id, Delivery.skip_reason)
    )
    for cid, reason, n in session.execute(query):
        found[cid].skipped[reason or "unknown"] += n


def _count_answers(
    session: Session, where: list[ColumnElement[bool]], found: dict[int, _Tally]
) -> None:
    """Survey answers: CSAT counts and score total, NPS promoters and detractors."""
    csat = and_(Campaign.survey_kind == "csat", SurveyResponse.score.is_not(None))
    nps = and_(Campaign.survey_kind == "nps", SurveyResponse.score.is_not(None))
    query = (
        select(
            Delivery.campaign_id,
            func.count(SurveyResponse.id),
            _count_if(csat),
            func.coalesce(func.sum(case((csat, SurveyResponse.score), else_=0)), 0),
            _count_if(and_(csat, SurveyResponse.score >= 4)),
            _count_if(nps),
            _count_if(and_(nps, SurveyResponse.score >= 9)),
            _count_if(and_(nps, SurveyResponse.score <= 6)),
        )
        .select_from(SurveyResponse)
        .join(Delivery, Delivery.id == SurveyResponse.delivery_id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(*where)
        .group_by(Delivery.campaign_id)
    )
    for cid, answers, csat_n, csat_total, satisfied, nps_n, pro, det in session.execute(query):
        tally = found[cid]
        tally.survey_answers, tally.csat_answers = answers, int(csat_n)
        tally.csat_total = int(csat_total)
        tally.csat_satisfied, tally.nps_answers = int(satisfied), int(nps_n)
        tally.promoters, tally.detractors = int(pro), int(det)


def _total_cost(costs: list[float | None]) -> float | None:
    """The campaigns' summed cost; None when none of them has a cost set."""
    known = [cost for cost in costs if cost is not None]
    return float(sum(known)) if known else None


def programme_metrics(
    db: Database, *, campaign_ids: list[int] | None = None, period: Period | None = None
) -> ProgrammeMetrics:
    """Metrics over the deliveries of these campaigns (all when None) made in the period."""
    total = _Tally()
    for tally in _tallies(db, campaign_ids, period).values():
        total.add(tally)
    cost = None
    if campaign_ids is not None:
        with db.session() as session:
            costs = session.scalars(select(Campaign.cost).where(Campaign.id.in_(campaign_ids)))
            cost = _total_cost(list(costs))
    return total.metrics(cost)


def campaign_ids_for_segment(db: Database, segment: str) -> list[int]:
    with db.session() as session:
        return list(
            session.scalars(
                select(Campaign.id)
                .join(Segment, Segment.id == Campaign.segment_id)
                .where(Segment.name == segment)
            )
        )


def metrics_per_campaign(
    db: Database, *, period: Period | None = None
) -> list[tuple[int, str, ProgrammeMetrics]]:
    """(id, name, metrics) for every campaign, in id order, from one grouped pass."""
    with db.session() as session:
        campaigns = session.execute(
            select(Campaign.id, Campaign.name, Campaign.cost).order_by(Campaign.id)
        ).all()
    tallies = _tallies(db, None, period)
    return [
        (cid, name, tallies.get(cid, _Tally()).metrics(_total_cost([cost])))
        for cid, name, cost in campaigns
    ]


def metrics_per_segment(
    db: Database, *, period: Period | None = None
) -> list[tuple[int, str, ProgrammeMetrics]]:
    """(id, name, metrics) for every segment over its campaigns, in id order (one grouped pass)."""
    with db.session() as session:
        segments = session.execute(select(Segment.id, Segment.name).order_by(Segment.id)).all()
        campaigns = session.execute(select(Campaign.id, Campaign.segment_id, Campaign.cost)).all()
    tallies = _tallies(db, None, period)
    found = []
    for sid, name in segments:
        total, costs = _Tally(), []
        for cid, segment_id, cost in campaigns:
            if segment_id == sid:
                total.add(tallies.get(cid, _Tally()))
                costs.append(cost)
        found.append((sid, name, total.metrics(_total_cost(costs))))
    return found


def segment_campaign_ids(db: Database, segment: str) -> list[int]:
    """Like `campaign_ids_for_segment`, but an unknown segment is an error, not "no data"."""
    with db.session() as session:
        if session.scalar(select(Segment.id).where(Segment.name == segment)) is None:
            raise UnknownName("segment", segment, session.scalars(select(Segment.name)))
    return campaign_ids_for_segment(db, segment)
