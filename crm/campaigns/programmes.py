"""Ready programme templates: the segments and campaigns a shop would otherwise design itself.

A programme is data: which competency it serves (the CRM standards in
../shared/seeds), and one or more steps, each a saved segment rule and the
campaign that reaches it. `install_programme` turns the data into ordinary
segments and campaigns, which the business then edits like any other; nothing
about them stays special afterwards.

Installed campaigns start **paused**. The texts carry placeholder offers and
wording the business should read first, and the rules pick real customers: an
active install on a shop with 10,000 customers would message them at the next
cron tick before anyone had looked. `rapport campaigns resume NAME` (or
installing with `active=True`) starts them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import delete, func, select

from rapport.crm.campaigns.definitions import (
    CampaignSpec,
    create_campaign,
    set_status,
    validate_spec,
)
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, UnknownName
from rapport.crm.models import Campaign, CampaignStatus, Segment
from rapport.crm.segments.rules import parse_rule
from rapport.crm.segments.saved import create_segment

CAMPAIGN_OVERRIDES = frozenset(
    {
        "timezone",
        "schedule_cron",
        "channel",
        "fallback",
        "subject",
        "template",
        "points",
        "offer_code",
        "offer_valid_days",
        "cost",
    }
)
"""Campaign fields an install may change for every step (kind, survey and names stay)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One segment and the campaign that reaches it."""

    segment: str
    segment_description: str
    rule: Mapping[str, Any]
    campaign: CampaignSpec
    """The campaign; its `segment` is the step's segment name."""


@dataclass(frozen=True, slots=True)
class Programme:
    name: str
    title: str
    description: str
    competency: str
    """The unit of competency (seed code and wording) the programme puts into practice."""
    steps: tuple[Step, ...]


def _step(
    segment: str,
    description: str,
    rule: Mapping[str, Any],
    campaign: str,
    kind: str,
    cron: str,
    template: str,
    **extra: Any,
) -> Step:
    spec = CampaignSpec(
        name=campaign,
        kind=kind,
        segment=segment,
        template=template,
        schedule_cron=cron,
        **extra,
    )
    return Step(segment, description, rule, spec)


def _c(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


def _between_days(field: str, low: int, high: int) -> dict[str, Any]:
    """At least `low` and less than `high` days: a one-day window a daily run sees once."""
    return {"all": [_c(field, ">=", low), _c(field, "<", high)]}


_ACTIVE_YEAR = _c("last_activity_days", "<=", 365)
_GOLD = _c("value_tier", "==", "gold")
_SILVER = _c("value_tier", "==", "silver")

PROGRAMMES: tuple[Programme, ...] = (
    Programme(
        name="welcome",
        title="Welcome series for new customers",
        description="A welcome on the first day, then a first-order offer a week later.",
        competency="ITCSCR512A customer acquisition and retention; ITCSCR510A individual "
        "relationship designed into the service flow",
        steps=(
            _step(
                "New customers (day 0)",
                "First contact less than a day ago.",
                _c("first_seen_days", "<", 1),
                "Welcome: day 0",
                "announcement",
                "0 10 * * *",
                "Hi {{ first_name }}, welcome to {{ business }}! Reply here any time: a person "
                "reads every message.",
                subject="Welcome!",
            ),
            _step(
                "New customers (day 7)",
                "First contact seven days ago (a one-day window).",
                _between_days("first_seen_days", 7, 8),
                "Welcome: day 7 offer",
                "loyalty",
                "0 10 * * *",
                "Hi {{ first_name }}, thanks for your first week with {{ business }}. Here is "
                "10% off your next order: {{ offer_code }} (until {{ offer_expires }}).",
                subject="A welcome gift",
                offer_code="WELCOME10",
                offer_valid_days=14,
            ),
        ),
    ),
    Programme(
        name="csat-resolved",
        title="CSAT after a resolved conversation",
        description="A 1–5 satisfaction question the evening a conversation is resolved.",
        competency="ITCSCR603A post-sale feedback mechanism; ITCSCR510A evaluation metrics",
        steps=(
            _step(
                "Resolved today",
                "A conversation of theirs was resolved in the last day.",
                _c("resolved_days", "<", 1),
                "CSAT after resolution",
                "feedback",
                "0 18 * * *",
                "Hi {{ first_name }}, we have just closed your request. How satisfied are you "
                "with how {{ business }} handled it? Reply 1 (poor) to 5 (excellent).",
                subject="How did we do?",
                survey_kind="csat",
            ),
        ),
    ),
    Programme(
        name="nps-quarterly",
        title="Quarterly NPS per value segment",
        description="NPS on the first of each quarter, one campaign per value tier so each "
        "segment's score is reported on its own.",
        competency="ITCSCR510A performance measured per segment (customer perceptions); "
        "ITCSCR408A customer value per segment group",
        steps=tuple(
            _step(
                f"Active {label} customers",
                f"Active in the last year, value tier {label}.",
                {"all": [_ACTIVE_YEAR, rule]},
                f"Quarterly NPS: {label}",
                "feedback",
                "0 10 1 1,4,7,10 *",
                "Hi {{ first_name }}, how likely are you to recommend {{ business }} to a "
                "friend? Reply 0 (not at all) to 10 (extremely).",
                subject="One quick question",
                survey_kind="nps",
            )
            for label, rule in (
                ("gold", _GOLD),
                ("silver", _SILVER),
                ("other", {"not": {"any": [_GOLD, _SILVER]}}),
            )
        ),
    ),
    Programme(
        name="loyalty-tiers",
        title="Points and tiers for repeat buyers",
        description="Monthly bonus points for repeat buyers who ordered in the last month, "
        "and a note the day a customer reaches a higher loyalty tier (tier names as in "
        "RAPPORT_LOYALTY_TIERS' default; edit if yours differ).",
        competency="ITCSCR510A develop and implement loyalty programmes; ITCSCR408A "
        "motivation programmes to retain and maximise customer value",
        steps=(
            _step(
                "Repeat buyers (last 30 days)",
                "Two or more orders, the latest within 30 days.",
                {"all": [_c("orders", ">=", 2), _c("days_since_order", "<=", 30)]},
                "Loyalty: monthly bonus",
                "loyalty",
                "0 10 1 * *",
                "Thank you for coming back, {{ first_name }}! We added {{ points_awarded }} "
                "bonus points; your balance is {{ points }}.",
                subject="Bonus points for you",
                points=50,
            ),
            _step(
                "Moved up a tier today",
                "Loyalty tier went up in the last day.",
                {"all": [_c("tier_change", "==", "up"), _c("tier_changed_days", "<", 1)]},
                "Loyalty: tier up",
                "loyalty",
                "0 11 * * *",
                "Congratulations {{ first_name }}, you have reached a new loyalty tier at "
                "{{ business }}! Here are {{ points_awarded }} points to celebrate; "
                "balance {{ points }}.",
                subject="You moved up a tier",
                points=100,
            ),
        ),
    ),
    Programme(
        name="win-back",
        title="Win-back for customers at risk of churn",
        description="A weekly offer to buyers who are well past their usual buying rhythm.",
        competency="107136L6 evaluation and remedy of customer loss; ITCSCR408A churn risk",
        steps=(
            _step(
                "At risk of churn",
                "Ordered before, now at least one buying interval overdue (churn risk ≥ 0.6) "
                "and silent for 30 days.",
                {
                    "all": [
                        _c("orders", ">=", 1),
                        _c("churn_risk", ">=", 0.6),
                        _c("last_activity_days", ">=", 30),
                    ]
                },
                "Win-back offer",
                "loyalty",
                "0 10 * * 2",
                "We miss you, {{ first_name }}! Come back to {{ business }} with 15% off: "
                "{{ offer_code }} (valid until {{ offer_expires }}).",
                subject="15% off, just for you",
                offer_code="COMEBACK15",
                offer_valid_days=21,
            ),
        ),
    ),
    Programme(
        name="complaint-recovery",
        title="Complaint recovery follow-up",
        description="Three days after a complaint is resolved, ask whether it is really put "
        "right (CSAT 1–5), so low answers reach a person again.",
        competency="107136L6 handling of customer complaints and follow-up procedures; "
        "ITCSCR603A post-sale recovery mechanism",
        steps=(
            _step(
                "Complaint resolved 3 days ago",
                "A complaint of theirs was resolved three days ago (a one-day window).",
                _between_days("complaint_resolved_days", 3, 4),
                "Complaint follow-up",
                "feedback",
                "0 10 * * *",
                "Hi {{ first_name }}, a few days ago we resolved your complaint. Is everything "
                "now as it should be? Reply 1 (not at all) to 5 (fully put right); a person "
                "at {{ business }} reads every answer.",
                subject="Is everything put right?",
                survey_kind="csat",
            ),
        ),
    ),
)


def list_programmes() -> tuple[Programme, ...]:
    return PROGRAMMES


def get_programme(name: str) -> Programme:
    for programme in PROGRAMMES:
        if programme.name == name.strip().lower():
            return programme
    raise UnknownName("programme", name, (p.name for p in PROGRAMMES))


@dataclass(frozen=True, slots=True)
class Installed:
    programme: str
    segments: tuple[int, ...]
    campaigns: tuple[int, ...]
    active: bool


def _apply(spec: CampaignSpec, overrides: Mapping[str, Any]) -> CampaignSpec:
    unknown = sorted(set(overrides) - CAMPAIGN_OVERRIDES)
    if unknown:
        allowed = ", ".join(sorted(CAMPAIGN_OVERRIDES))
        raise InvalidInput(f"cannot override {', '.join(unknown)}; allowed: {allowed}")
    return replace(spec, **{k: v for k, v in overrides.items() if v is not None})


def _taken(db: Database, programme: Programme) -> list[str]:
    segments = [s.segment.lower() for s in programme.steps]
    campaigns = [s.campaign.name for s in programme.steps]
    with db.session() as session:
        found = list(
            session.scalars(select(Segment.name).where(func.lower(Segment.name).in_(segments)))
        )
        found += session.scalars(select(Campaign.name).where(Campaign.name.in_(campaigns)))
    return found


def installed_programmes(db: Database) -> set[str]:
    """Names of the programmes whose campaigns all exist (by name) in this database."""
    with db.session() as session:
        names = set(session.scalars(select(Campaign.name)))
    return {p.name for p in PROGRAMMES if all(s.campaign.name in names for s in p.steps)}


def install_programme(
    db: Database,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    active: bool = False,
) -> Installed:
    """Create the programme's segments and campaigns; all or nothing.

    Everything is validated before the first write; a name already in use
    (installed before, or the shop's own segment) is a Conflict and nothing is
    created. Campaigns start paused unless `active` (see the module text).
    """
    programme = get_programme(name)
    steps = [replace(s, campaign=_apply(s.campaign, overrides or {})) for s in programme.steps]
    for step in steps:
        parse_rule(step.rule)
        validate_spec(step.campaign)
    taken = _taken(db, programme)
    if taken:
        raise Conflict(
            f"programme {programme.name!r} is already installed (or its names are in use): "
            f"{', '.join(taken)}"
        )
    segments: list[int] = []
    campaigns: list[int] = []
    try:
        for step in steps:
            segments.append(
                create_segment(db, step.segment, step.rule, step.segment_description).id
            )
            campaign = create_campaign(db, step.campaign)
            campaigns.append(campaign.id)
            if not active:
                set_status(db, campaign.id, CampaignStatus.PAUSED)
    except Exception:
        _undo(db, segments, campaigns)
        raise
    return Installed(programme.name, tuple(segments), tuple(campaigns), active)


def _undo(db: Database, segments: list[int], campaigns: list[int]) -> None:
    """Remove a half-made install (a name taken by a concurrent install between check and use)."""
    with db.transaction() as session:
        if campaigns:
            session.execute(delete(Campaign).where(Campaign.id.in_(campaigns)))
        if segments:
            session.execute(delete(Segment).where(Segment.id.in_(segments)))


def programme_json(programme: Programme) -> str:
    """The template as JSON, for `rapport programmes show`: what install would create."""
    data = {
        "name": programme.name,
        "title": programme.title,
        "description": programme.description,
        "competency": programme.competency,
        "steps": [
            {
                "segment": s.segment,
                "rule": s.rule,
                "campaign": {
                    f.name: getattr(s.campaign, f.name)
                    for f in fields(s.campaign)
                    if getattr(s.campaign, f.name) is not None
                },
            }
            for s in programme.steps
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
