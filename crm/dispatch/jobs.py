"""A claimed delivery as a job: the address and the message rendered for its customer.

The template is rendered at claim time with the customer's name and points
balance; a template that cannot be rendered becomes the job's `problem`, and
the dispatcher records it as a failure instead of sending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapport.crm.campaigns.definitions import SURVEY_SCALES
from rapport.crm.campaigns.templates import TemplateProblem, render
from rapport.crm.messages import OutboundMessage
from rapport.crm.models import Campaign


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery with everything needed to send it."""

    delivery_id: int
    campaign_id: int
    customer_id: int
    identity_id: int | None
    channel: str
    external_id: str
    attempts: int
    message: OutboundMessage | None
    points: int = 0
    problem: str | None = None


def build_job(
    row: Any,
    campaign: Campaign,
    balance: int,
    now: datetime,
    *,
    business_name: str,
    extra_headers: Callable[[int, int], dict[str, str]] | None,
) -> Job:
    """The job for one claimed delivery row (`rapport.crm.dispatch.claims.claim_due`)."""
    name = row.display_name or ""
    awarded = campaign.points or 0
    expires = (
        (now + timedelta(days=campaign.offer_valid_days)).date().isoformat()
        if campaign.offer_valid_days
        else ""
    )
    context = {
        "name": name or "there",
        "first_name": name.split(" ")[0] if name else "there",
        "business": business_name,
        "campaign": campaign.name,
        "points": balance + awarded,
        "points_awarded": awarded,
        "offer_code": campaign.offer_code or "",
        "offer_expires": expires,
        "tier": "",
    }
    problem = None
    message = None
    try:
        text = render(campaign.template, context)
        choices: tuple[tuple[str, str], ...] = ()
        if campaign.survey_kind:
            low, high = SURVEY_SCALES[campaign.survey_kind]
            choices = tuple((str(n), str(n)) for n in range(low, high + 1))
        headers = extra_headers(row.id, row.customer_id) if extra_headers else {}
        message = OutboundMessage(
            text=text, subject=campaign.subject, choices=choices, headers=headers
        )
    except TemplateProblem as exc:
        problem = str(exc)
    return Job(
        delivery_id=row.id,
        campaign_id=row.campaign_id,
        customer_id=row.customer_id,
        identity_id=row.identity_id,
        channel=row.channel or "",
        external_id=row.external_id or "",
        attempts=row.attempts,
        message=message,
        points=campaign.points or 0,
        problem=problem,
    )
