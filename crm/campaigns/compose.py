"""One campaign message for one customer: the words, the subject, the survey scale, the link.

The dispatcher sends what this makes, and `rapport campaigns preview` and
`campaigns test` show and send the very same thing, so what staff check is
what customers get.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from rapport.crm.campaigns.surveys import survey_choices
from rapport.crm.campaigns.templates import render
from rapport.crm.messages import OutboundMessage
from rapport.crm.models import Campaign


def subject_of(campaign: Campaign) -> str:
    """The campaign's subject; one made before subjects were required uses its name."""
    return campaign.subject or campaign.name


def template_context(
    campaign: Campaign, name: str | None, balance: int, business: str, now: datetime
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
    campaign: Campaign,
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
