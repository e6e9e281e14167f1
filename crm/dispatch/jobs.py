"""A claimed delivery as a job: the address and the message rendered for its customer.

The template is rendered at claim time with the customer's name and points
balance, and the delivery's own unsubscribe link; a template that cannot be
rendered becomes the job's `problem`, and the dispatcher records it as a
failure instead of sending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapport.crm.campaigns.bounded import TemplateLimit
from rapport.crm.campaigns.compose import campaign_message
from rapport.crm.campaigns.templates import TemplateProblem
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
    over_limit: bool = False
    """The template went over a rendering bound (time, memory, output): the campaign is
    paused, and its other deliveries wait (rapport.crm.campaigns.bounded)."""


def build_job(
    row: Any,
    campaign: Campaign,
    balance: int,
    now: datetime,
    *,
    business_name: str,
    extra_headers: Callable[[int, int], dict[str, str]] | None,
    unsubscribe_url: Callable[[int, int], str] | None = None,
) -> Job:
    """The job for one claimed delivery row (`rapport.crm.dispatch.claims.claim_due`).

    The message is `rapport.crm.campaigns.compose`'s, the one preview and test sends show.
    """
    problem = None
    message = None
    over_limit = False
    try:
        message = campaign_message(
            campaign,
            name=row.display_name,
            balance=balance,
            business=business_name,
            now=now,
            unsubscribe_url=unsubscribe_url(row.id, row.customer_id) if unsubscribe_url else None,
            headers=extra_headers(row.id, row.customer_id) if extra_headers else {},
        )
    except TemplateLimit as exc:
        problem, over_limit = f"{exc}; the campaign was paused", True
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
        over_limit=over_limit,
    )
