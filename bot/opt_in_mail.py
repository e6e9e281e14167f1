"""The double opt-in mail: "please confirm", with the link and "or reply YES".

Shared by `rapport customers invite` and the web server's `/subscribe`
page; the request itself and its confirmation are rapport.crm.privacy.opt_in's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta

from rapport.crm.channel import Channel, DeliveryFailure
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.messages import OutboundMessage
from rapport.crm.privacy.opt_in import Ticket, links_from_settings, mark_sent, request_opt_in
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)


def confirmation_message(business: str, name: str | None, url: str, hours: int) -> OutboundMessage:
    """A service message (it asks; it offers nothing), so it carries no unsubscribe link."""
    greeting = f"Hello {name.split(' ')[0]}," if name else "Hello,"
    text = (
        f"{greeting}\n\n"
        f"Please confirm that you would like news and offers from {business} by email "
        "at this address. To confirm, open this link and press the button:\n\n"
        f"{url}\n\n"
        "or simply reply YES to this mail.\n\n"
        "If you did not ask for this, ignore this mail: without your confirmation we "
        f"send you nothing. The link works for {hours} hours.\n"
    )
    return OutboundMessage(text=text, subject=f"Please confirm: news and offers from {business}")


async def send_invitation(
    db: Database,
    settings: Settings,
    sender: Channel,
    email: str,
    name: str | None,
    requested_by: str,
    meta: Mapping[str, object] | None = None,
) -> str:
    """Store the request and mail the confirmation; what happened, in words.

    InvalidInput for a bad address; a channel failure is raised as it came.
    """
    links = await asyncio.to_thread(links_from_settings, settings, db)
    if links is None:
        raise ConfigurationError(
            "confirmation links need somewhere to point: set RAPPORT_PUBLIC_URL "
            "or turn the web server on (RAPPORT_WEB_PORT)"
        )
    ticket: Ticket = await asyncio.to_thread(
        lambda: request_opt_in(
            db,
            email,
            name,
            requested_by=requested_by,
            lifetime=timedelta(hours=settings.opt_in_link_hours),
            meta=meta,
        )
    )
    if ticket.request_id is None:
        return f"nothing sent to {ticket.email}: {ticket.reason}"
    message = confirmation_message(
        settings.business_name,
        ticket.name,
        links.url(ticket.request_id),
        settings.opt_in_link_hours,
    )
    try:
        receipt = await sender.send(ticket.email, message)
    except DeliveryFailure:
        log.warning("opt-in request %d: the confirmation mail was not sent", ticket.request_id)
        raise
    await asyncio.to_thread(mark_sent, db, ticket.request_id, receipt.message_key, receipt.sent_at)
    return (
        f"confirmation mail sent to {ticket.email}; their consent is recorded when they "
        f"confirm (the link works for {settings.opt_in_link_hours} hours, or they reply YES)"
    )
