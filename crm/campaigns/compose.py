"""One campaign message for one customer: the words, the subject, the survey scale, the link.

The dispatcher sends what this makes, and `rapport campaigns preview` and
`campaigns test` show and send the very same thing, so what staff check is
what customers get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from rapport.crm.campaigns.definitions import LAST_ACTIVE, CampaignView
from rapport.crm.campaigns.runs import NO_CONSENT, UNREACHABLE
from rapport.crm.campaigns.surveys import survey_choices
from rapport.crm.campaigns.templates import render
from rapport.crm.database import Database
from rapport.crm.errors import NotFound
from rapport.crm.messages import OutboundMessage
from rapport.crm.models import Campaign, Consent, ConsentPurpose, Customer, Identity


def subject_of(campaign: CampaignView | Campaign) -> str:
    """The campaign's subject; one made before subjects were required uses its name."""
    return campaign.subject or campaign.name


def template_context(
    campaign: CampaignView | Campaign, name: str | None, balance: int, business: str, now: datetime
) -> dict[str, object]:
    """The names a campaign template may use (rapport.crm.campaigns.templates.SAMPLE_CONTEXT)."""
    name = name or ""
    awarded = campaign.points or 0
    expires = (
        (now + timedelta(days=campaign.offer_valid_days)).date().isoformat()
        if campaign.offer_valid_days
        else ""
    )
    return {
        "name": name or "there",
        "first_name": name.split(" ")[0] if name else "there",
        "business": business,
        "campaign": campaign.name,
        "points": balance + awarded,
        "points_awarded": awarded,
        "offer_code": campaign.offer_code or "",
        "offer_expires": expires,
        "tier": "",
    }


def campaign_message(
    campaign: CampaignView | Campaign,
    *,
    name: str | None,
    balance: int,
    business: str,
    now: datetime,
    unsubscribe_url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> OutboundMessage:
    """The message; raises TemplateProblem when the template cannot render for this customer."""
    text = render(campaign.template, template_context(campaign, name, balance, business, now))
    return OutboundMessage(
        text=text,
        subject=subject_of(campaign),
        choices=survey_choices(campaign.survey_kind) if campaign.survey_kind else (),
        headers=dict(headers or {}),
        unsubscribe_url=unsubscribe_url,
        marketing=True,
    )


@dataclass(frozen=True, slots=True)
class Route:
    """Where a run would send one customer this campaign, or why it would skip them."""

    channel: str | None
    external_id: str | None
    skip_reason: str | None


def route_for(
    db: Database,
    campaign: CampaignView | Campaign,
    customer_id: int,
    channels: tuple[str, ...] | None = None,
) -> Route:
    """The identity a run would pick for this customer (as `runs._materialise` decides).

    Consent is per channel: the preferred channel (the campaign's, or where
    the customer last wrote) if they agreed there, else with fallback another
    they agreed on; without any, the skip reason a run would record.
    """
    with db.session() as session:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.erased_at is not None:
            raise NotFound(f"no customer with id {customer_id}")
        usable = [
            i
            for i in session.scalars(
                select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
            )
            if i.unreachable_at is None and (channels is None or i.channel in channels)
        ]
        granted = set(
            session.scalars(
                select(Consent.channel).where(
                    Consent.customer_id == customer_id,
                    Consent.purpose == ConsentPurpose.MARKETING.value,
                    Consent.granted.is_(True),
                )
            )
        )
    preferred = customer.last_channel if campaign.channel == LAST_ACTIVE else campaign.channel
    widen = campaign.channel == LAST_ACTIVE or campaign.fallback
    ordered = [i for i in usable if i.channel == preferred]
    if widen:
        ordered += [i for i in usable if i.channel != preferred]
    for identity in ordered:
        if identity.channel in granted and customer.marketing_consent:
            return Route(identity.channel, identity.external_id, None)
    if not customer.marketing_consent or ordered:
        first = ordered[0] if ordered else None
        return Route(first.channel if first else None, first.external_id if first else None,
                     NO_CONSENT)  # fmt: skip
    return Route(None, None, UNREACHABLE)
