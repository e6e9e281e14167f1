"""Campaign definitions: create, validate, pause, resume, list.

A campaign is data: which segment, what kind, when (cron or one-off, in the
business's time zone), over which channel, with which message. Everything is
checked when it is saved, so a scheduled run at 3 a.m. never discovers a typo.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from rapport.crm.campaigns.schedule import InvalidSchedule, parse_crontab
from rapport.crm.campaigns.templates import validate_template
from rapport.crm.customers.identity import CHANNELS
from rapport.crm.database import Database
from rapport.crm.errors import RapportError, UnknownName
from rapport.crm.models import Campaign, CampaignKind, CampaignStatus, Segment, SurveyKind

log = logging.getLogger(__name__)

LAST_ACTIVE = "last_active"
SURVEY_SCALES: dict[str, tuple[int, int]] = {SurveyKind.CSAT: (1, 5), SurveyKind.NPS: (0, 10)}


class InvalidCampaign(RapportError):
    """A campaign definition that cannot be saved, with the reason."""


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """What staff specify for a campaign; `create_campaign` validates every field."""

    name: str
    kind: str
    segment: str
    template: str
    schedule_cron: str | None = None
    run_at: datetime | None = None
    timezone: str = "UTC"
    channel: str = LAST_ACTIVE
    fallback: bool = True
    subject: str | None = None
    survey_kind: str | None = None
    points: int | None = None
    offer_code: str | None = None
    offer_valid_days: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    cost: float | None = None


def _check(spec: CampaignSpec) -> None:
    if not spec.name.strip() or len(spec.name) > 120:
        raise InvalidCampaign("a campaign needs a name of 1–120 characters")
    if spec.kind not in set(CampaignKind):
        raise InvalidCampaign(f"kind must be one of {', '.join(CampaignKind)}")
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidCampaign(f"unknown time zone {spec.timezone!r}") from None
    if spec.schedule_cron and spec.run_at:
        raise InvalidCampaign("give either a cron schedule or a one-off time, not both")
    if spec.schedule_cron:
        try:
            parse_crontab(spec.schedule_cron)
        except InvalidSchedule as exc:
            raise InvalidCampaign(str(exc)) from None
    for label, value in (
        ("run_at", spec.run_at),
        ("starts_at", spec.starts_at),
        ("ends_at", spec.ends_at),
    ):
        if value is not None and value.tzinfo is None:
            raise InvalidCampaign(f"{label} needs a time zone")
    if spec.starts_at and spec.ends_at and spec.ends_at <= spec.starts_at:
        raise InvalidCampaign("the campaign ends before it starts")
    if spec.channel not in (LAST_ACTIVE, *CHANNELS):
        raise InvalidCampaign(f"channel must be {LAST_ACTIVE} or one of {', '.join(CHANNELS)}")
    if spec.kind == CampaignKind.FEEDBACK and spec.survey_kind not in SURVEY_SCALES:
        raise InvalidCampaign("a feedback campaign needs a survey: csat (1–5) or nps (0–10)")
    if spec.kind != CampaignKind.FEEDBACK and spec.survey_kind:
        raise InvalidCampaign("only feedback campaigns carry a survey")
    if spec.points is not None and not 0 < spec.points <= 100_000:
        raise InvalidCampaign("points to award must be between 1 and 100,000")
    if spec.kind == CampaignKind.LOYALTY and not (spec.points or spec.offer_code):
        raise InvalidCampaign(
            "a loyalty campaign needs an action: points to award or an offer code"
        )
    if spec.offer_code is not None and not spec.offer_code.isprintable():
        raise InvalidCampaign("the offer code must be printable text")
    if spec.subject is not None and ("\r" in spec.subject or "\n" in spec.subject):
        raise InvalidCampaign("the subject must be one line")
    if spec.cost is not None and spec.cost < 0:
        raise InvalidCampaign("cost cannot be negative")
    validate_template(spec.template)


def validate_spec(spec: CampaignSpec) -> None:
    """Check a campaign without saving it (the segment's existence is checked on create)."""
    _check(spec)


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign as callers see it: a snapshot of its row, never a live ORM object."""

    id: int
    name: str
    kind: str
    segment_id: int
    status: str
    schedule_cron: str | None
    run_at: datetime | None
    timezone: str
    starts_at: datetime | None
    ends_at: datetime | None
    channel: str
    fallback: bool
    subject: str | None
    template: str
    survey_kind: str | None
    points: int | None
    offer_code: str | None
    offer_valid_days: int | None
    cost: float | None
    created_at: datetime

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignView:
        return cls(**{f: getattr(campaign, f) for f in cls.__dataclass_fields__})


def create_campaign(db: Database, spec: CampaignSpec) -> CampaignView:
    _check(spec)
    with db.transaction() as session:
        segment = session.scalar(select(Segment).where(Segment.name == spec.segment))
        if segment is None:
            raise UnknownName("segment", spec.segment, session.scalars(select(Segment.name)))
        campaign = Campaign(
            name=spec.name.strip(),
            kind=spec.kind,
            segment_id=segment.id,
            status=CampaignStatus.ACTIVE,
            schedule_cron=spec.schedule_cron,
            run_at=spec.run_at,
            timezone=spec.timezone,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            channel=spec.channel,
            fallback=spec.fallback,
            subject=(spec.subject or "").strip() or spec.name.strip()[:200],
            template=spec.template,
            survey_kind=spec.survey_kind,
            points=spec.points,
            offer_code=spec.offer_code,
            offer_valid_days=spec.offer_valid_days,
            cost=spec.cost,
        )
        session.add(campaign)
        try:
            session.flush()
        except IntegrityError:
            raise InvalidCampaign(f"a campaign named {spec.name!r} exists already") from None
        return CampaignView.of(campaign)


EDITABLE = frozenset(
    {"template", "subject", "schedule_cron", "run_at", "timezone", "channel", "fallback",
     "points", "offer_code", "offer_valid_days", "cost", "starts_at", "ends_at"}
)  # fmt: skip
"""What `update_campaign` may change; kind, survey and segment make a different programme."""


def update_campaign(db: Database, ref: str | int, **changes: object) -> CampaignView:
    """Change a campaign's wording, schedule or action, checked as on create.

    This is how a business adapts an installed programme template before
    resuming it; runs already made keep the deliveries they made.
    """
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise InvalidCampaign(
            f"cannot change {', '.join(unknown)}; editable: {', '.join(sorted(EDITABLE))}"
        )
    campaign_id = get_campaign(db, ref).id
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        segment = session.get(Segment, campaign.segment_id)
        assert segment is not None
        current = {
            f: getattr(campaign, f) for f in CampaignSpec.__dataclass_fields__ if f != "segment"
        }
        current.update(name=campaign.name, segment=segment.name, **changes)
        spec = CampaignSpec(**current)
        _check(spec)
        for name, value in changes.items():
            setattr(campaign, name, value)
        session.flush()
        return CampaignView.of(campaign)


def get_campaign(db: Database, ref: str | int) -> CampaignView:
    """By id or by name."""
    with db.session() as session:
        if isinstance(ref, int) or str(ref).isdigit():
            campaign = session.get(Campaign, int(ref))
        else:
            campaign = session.scalar(select(Campaign).where(Campaign.name == ref))
        if campaign is None:
            raise UnknownName("campaign", str(ref), session.scalars(select(Campaign.name)))
        return CampaignView.of(campaign)


def list_campaigns(db: Database) -> list[CampaignView]:
    with db.session() as session:
        return [CampaignView.of(c) for c in session.scalars(select(Campaign).order_by(Campaign.id))]


def set_status(db: Database, ref: str | int, status: CampaignStatus) -> CampaignView:
    """Pause or resume; a paused campaign fires no runs and its queued messages wait."""
    campaign_id = get_campaign(db, ref).id
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        if campaign.status == CampaignStatus.ENDED:
            raise InvalidCampaign(f"campaign {campaign.name!r} has ended")
        if campaign.status == CampaignStatus.COMPLETED and status != CampaignStatus.COMPLETED:
            raise InvalidCampaign(
                f"campaign {campaign.name!r} was a one-off and has run; "
                "`rapport campaigns run-now` sends it again by hand"
            )
        campaign.status = status
        session.flush()
        return CampaignView.of(campaign)


def pause_for_template(db: Database, reasons: Mapping[int, str]) -> None:
    """Pause campaigns whose template went over a rendering bound while sending.

    Only active ones (a campaign paused by hand meanwhile stays as it is); the
    delivery that failed carries the reason, and so does the log. Staff fix the
    template (`rapport campaigns edit`) and resume the campaign.
    """
    with db.transaction() as session:
        for campaign_id, reason in reasons.items():
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None and campaign.status == CampaignStatus.ACTIVE:
                campaign.status = CampaignStatus.PAUSED
                log.warning("campaign %d paused: %s", campaign_id, reason)


def is_live(campaign: CampaignView | Campaign, now: datetime) -> bool:
    """Active and inside its start/end window."""
    return (
        campaign.status == CampaignStatus.ACTIVE
        and (campaign.starts_at is None or campaign.starts_at <= now)
        and (campaign.ends_at is None or now < campaign.ends_at)
    )
