"""`rapport campaigns preview` and `campaigns test`: see and receive a campaign before customers do.

A preview renders the message for one customer exactly as the dispatcher
would (rapport.crm.campaigns.compose) and, for email, through the real mail
renderer, then prints the headers a reader sees and the decoded body; for
Telegram the text and the keyboard's rows. A test sends one such message
through the real channel to an address staff give, marked "[TEST]" in the
subject and `X-Rapport-Test: yes`, with a link that unsubscribes nobody. It
makes no delivery and no interaction, so it never counts in a report, the
frequency cap or anyone's history; the audit trail records that it was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from email import policy
from email.parser import BytesParser

from sqlalchemy import select

from rapport.channels.email.rendering import MailRenderer
from rapport.channels.registry import OutboundChannels
from rapport.channels.telegram.outbound import keyboard
from rapport.crm.campaigns.compose import Route, campaign_message, route_for
from rapport.crm.campaigns.definitions import (
    EDITABLE,
    CampaignSpec,
    CampaignView,
    get_campaign,
    validate_spec,
)
from rapport.crm.channel import Channel
from rapport.crm.clock import utcnow
from rapport.crm.customers.identity import EMAIL, TELEGRAM, normalise_external_id
from rapport.crm.customers.profiles import customer_profile
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, InvalidMessage
from rapport.crm.messages import OutboundMessage
from rapport.crm.models import Identity
from rapport.crm.privacy.keys import public_base_url
from rapport.crm.privacy.unsubscribe import PATH, TEST_TOKEN
from rapport.crm.segments.saved import points_of, preview
from rapport.crm.settings import Settings
from rapport.crm.staff.audit import Actor, record

SHOWN_HEADERS = ("From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post")
PREVIEW_LINK = "/u/PERSONAL-LINK"
"""Stands for the link each delivery gets (its own signed token)."""


def preview_text(
    db: Database,
    settings: Settings,
    actor: Actor,
    ref: str,
    customer_id: int | None,
    *,
    draft: Mapping[str, object] | None = None,
) -> str:
    """The campaign's message for one customer (a segment member by default), as text.

    `draft` holds edits not saved yet (template, subject, channel: the console's
    edit form), checked as `update_campaign` checks them, so staff see the
    message they are about to save."""
    campaign = get_campaign(db, ref)
    if draft:
        unknown = sorted(set(draft) - EDITABLE)
        if unknown:
            raise InvalidInput(f"cannot change {', '.join(unknown)}")
        campaign = replace(campaign, **draft)  # type: ignore[arg-type]
        fields = CampaignSpec.__dataclass_fields__
        validate_spec(
            CampaignSpec(**{f: getattr(campaign, f) for f in fields if f != "segment"}, segment="")
        )
    if customer_id is None:
        sample = preview(db, actor, campaign.segment_id, sample=1).sample
        if not sample:
            return f"campaign {campaign.name!r}: its segment picks nobody now; nothing to preview"
        customer_id = sample[0].id
    profile = customer_profile(db, actor, customer_id, recent=0)  # an audited read
    route = route_for(db, campaign, customer_id)
    name = profile.summary.display_name
    base = public_base_url(settings) or "http://rapport.invalid"
    message = campaign_message(
        campaign,
        name=name,
        balance=points_of(db, customer_id),
        business=settings.business_name,
        now=utcnow(),
        unsubscribe_url=f"{base}{PREVIEW_LINK}",
    )
    fate = f"would be skipped: {route.skip_reason}" if route.skip_reason else "would be queued"
    where = f"by {route.channel} to {route.external_id}" if route.channel else "(no address)"
    lines = [f"campaign {campaign.name!r} for customer #{customer_id} {name or ''} {where}: {fate}"]
    lines.append("-" * 72)
    lines.extend(_shown(settings, route, message))
    return "\n".join(lines)


def _shown(settings: Settings, route: Route, message: OutboundMessage) -> list[str]:
    if route.channel == TELEGRAM:
        buttons = keyboard(message.choices)
        rows = [] if buttons is None else buttons.inline_keyboard
        return [message.text, *("  ".join(f"[{b.text}]" for b in row) for row in rows)]
    return mail_text(settings, route.external_id or "customer@example.invalid", message)


def mail_text(settings: Settings, address: str, message: OutboundMessage) -> list[str]:
    """The headers a reader sees and the decoded text of the mail as the renderer makes it."""
    renderer = MailRenderer(settings.mail_from or "shop@example.invalid", settings.business_name)
    _, data = renderer.render(address, message)
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    lines = [f"{name}: {parsed[name]}" for name in SHOWN_HEADERS if parsed[name] is not None]
    body = parsed.get_body(("plain",))
    text = body.get_content() if body is not None else ""
    return [*lines, "", text.replace("\r\n", "\n").rstrip()]


async def send_test(
    db: Database,
    settings: Settings,
    actor: Actor,
    ref: str,
    channel: str,
    address: str,
    *,
    channels: Mapping[str, Channel] | None = None,
) -> str:
    """Send one test message of the campaign to `address`; what happened, in words.

    `channels` are the running app's (the console's); without them the
    configured channels are opened for this one message (the CLI)."""
    campaign = get_campaign(db, ref)
    try:
        external_id = normalise_external_id(channel, address)
    except InvalidMessage as exc:
        raise InvalidInput(str(exc)) from None
    message = _test_message(db, settings, campaign, channel, external_id)

    async def send(senders: Mapping[str, Channel]) -> str:
        sender = senders.get(channel)
        if sender is None:
            raise InvalidInput(f"sending by {channel} is not configured")
        receipt = await sender.send(external_id, message)
        return receipt.message_key

    if channels is not None:
        await send(channels)
    else:
        async with OutboundChannels.from_settings(settings) as opened:
            await send(opened.for_campaigns())
    with db.transaction() as session:
        record(session, actor, "campaign.test", detail=f"campaign {campaign.id} by {channel}")
    return (
        f"test of {campaign.name!r} sent to {external_id} by {channel}; it counts in no report, "
        "no frequency cap and no customer's history"
    )


def _test_message(
    db: Database, settings: Settings, campaign: CampaignView, channel: str, external_id: str
) -> OutboundMessage:
    """The campaign's message, for the customer with this address if there is one."""
    with db.session() as session:
        known = session.execute(
            select(Identity.customer_id, Identity.display_name).where(
                Identity.channel == channel, Identity.external_id == external_id
            )
        ).first()
    base = public_base_url(settings) or "http://rapport.invalid"
    message = campaign_message(
        campaign,
        name=known.display_name if known else None,
        balance=points_of(db, known.customer_id) if known else 0,
        business=settings.business_name,
        now=utcnow(),
        unsubscribe_url=f"{base}{PATH}{TEST_TOKEN}" if channel == EMAIL else None,
        headers={"X-Rapport-Test": "yes"} if channel == EMAIL else {},
    )
    return replace(message, subject=f"[TEST] {message.subject}", text=_marked(channel, message))


def _marked(channel: str, message: OutboundMessage) -> str:
    return message.text if channel == EMAIL else f"[TEST] {message.text}"
