"""Campaign definitions: create, validate, pause, resume, list.

A campaign is data: which segment, what kind, when (cron or one-off, in the
business's time zone), over which channel, with which message. Everything is
checked when it is saved, so a scheduled run at 3 a.m. never discovers a typo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.database import Database
from crm.errors import NotFound, RapportError
from crm.identity import CHANNELS
from crm.models import Campaign, CampaignKind, CampaignStatus, Segment, SurveyKind
from crm.templates import validate_template

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


class MonotonicCronTrigger(CronTrigger):
    """APScheduler's cron trigger, made to always move forward.

    At the repeated hour when clocks go back (01:30 GMT after 01:30 BST),
    APScheduler 3.11 with zoneinfo computes the same fire time again and
    again, which would spin the scheduler's catch-up loop forever. When that
    happens we ask again from a little later; the doubled local time itself is
    handled by `crm.runs.local_slot_taken`.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        result = super().get_next_fire_time(previous_fire_time, now)
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


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _standard_weekdays(field: str) -> str:
    """Crontab day-of-week (0 or 7 = Sunday, 1 = Monday) as APScheduler day names.

    APScheduler 3 reads numbers as 0 = Monday, so "0 10 * * 1" would fire on
    Tuesdays; spelling the days out removes the ambiguity.
    """
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            low, high = _day_number(first), _day_number(last)
        else:
            low = _day_number(base)
            high = 6 if step_text else low
        if step < 1 or low > high:
            raise ValueError(f"bad day-of-week range {part!r}")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def _day_number(token: str) -> int:
    if token in _DAY_NAMES:
        return _DAY_NAMES.index(token)
    value = int(token)
    if not 0 <= value <= 7:
        raise ValueError(f"day of week {token!r} is not 0–7")
    return value


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A standard five-field crontab expression in the given zone, DST-safe."""
    try:
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
        minute, hour, day, month, weekday = fields
        return MonotonicCronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_standard_weekdays(weekday),
            timezone=ZoneInfo(timezone),
        )
    except (ValueError, KeyError) as exc:
        raise InvalidCampaign(f"bad cron expression {expression!r}: {exc}") from None


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
        cron_trigger(spec.schedule_cron, spec.timezone)
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


def create_campaign(db: Database, spec: CampaignSpec) -> Campaign:
    _check(spec)
    with db.transaction() as session:
        segment = session.scalar(select(Segment).where(Segment.name == spec.segment))
        if segment is None:
            raise NotFound(f"no segment named {spec.segment!r}")
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
            subject=spec.subject,
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
        return campaign


EDITABLE = frozenset(
    {"template", "subject", "schedule_cron", "timezone", "channel", "fallback", "points",
     "offer_code", "offer_valid_days", "cost", "starts_at", "ends_at"}
)  # fmt: skip
"""What `update_campaign` may change; kind, survey and segment make a different programme."""


def update_campaign(db: Database, ref: str | int, **changes: object) -> Campaign:
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
        spec = CampaignSpec(**current)  # type: ignore[arg-type]
        _check(spec)
        for name, value in changes.items():
            setattr(campaign, name, value)
        return campaign


def get_campaign(db: Database, ref: str | int) -> Campaign:
    """By id or by name."""
    with db.session() as session:
        if isinstance(ref, int) or str(ref).isdigit():
            campaign = session.get(Campaign, int(ref))
        else:
            campaign = session.scalar(select(Campaign).where(Campaign.name == ref))
        if campaign is None:
            raise NotFound(f"no campaign {ref!r}")
        return campaign


def list_campaigns(db: Database) -> list[Campaign]:
    with db.session() as session:
        return list(session.scalars(select(Campaign).order_by(Campaign.id)))


def set_status(db: Database, ref: str | int, status: CampaignStatus) -> Campaign:
    """Pause or resume; a paused campaign fires no runs and its queued messages wait."""
    campaign_id = get_campaign(db, ref).id
    with db.transaction() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        if campaign.status == CampaignStatus.ENDED:
            raise InvalidCampaign(f"campaign {campaign.name!r} has ended")
        campaign.status = status
        return campaign


def is_live(campaign: Campaign, now: datetime) -> bool:
    """Active and inside its start/end window."""
    return (
        campaign.status == CampaignStatus.ACTIVE
        and (campaign.starts_at is None or campaign.starts_at <= now)
        and (campaign.ends_at is None or now < campaign.ends_at)
    )
