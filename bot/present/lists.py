"""The listings staff read: customers, segments, campaigns, conversations, staff, audit.

Each builder turns what the core returns into a `Listing` (raw values under
typed columns), the same for the CLI, the bot and the console. Columns are in
the order a reader needs them; `needed` ones stay at any width, names
(`name=True`) are never cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rapport.bot.present.listing import Column, Kind, Listing
from rapport.bot.present.numbers import count

if TYPE_CHECKING:
    from rapport.crm.campaigns.definitions import CampaignView
    from rapport.crm.campaigns.programmes import Programme
    from rapport.crm.customers.profiles import CustomerSummary
    from rapport.crm.desk.conversations import ConversationView
    from rapport.crm.desk.follow_ups import FollowUpView
    from rapport.crm.staff.roles import AuditEntry, StaffView


def times_note(zone: ZoneInfo) -> str:
    return f"times in {zone.key} (RAPPORT_TIMEZONE)"


def shown_note(shown: int, total: int | None, noun: str) -> str:
    """ "10 of 151 customers shown" (or "3 customers" when all are shown)."""
    if total is None or total == shown:
        return f"{count(shown)} {noun}"
    return f"{count(shown)} of {count(total)} {noun} shown"


_ID = Column("id", "id", Kind.TEXT, needed=True)


def customer_listing(
    rows: Sequence[CustomerSummary], zone: ZoneInfo, *, total: int | None = None
) -> Listing:
    listing = Listing(
        [
            _ID,
            Column("name", "name", needed=True, name=True),
            Column("last_activity_at", "last activity", Kind.WHEN, needed=True),
            Column("messages", "msgs", Kind.COUNT, legend="messages in and out"),
            Column("contact", "contact"),
            Column("consent", "consent", legend="channels with marketing consent"),
            Column("last_channel", "last channel"),
        ]
    )
    for c in rows:
        listing.add(
            id=str(c.id),
            name=c.display_name or "",
            last_activity_at=c.last_activity_at,
            messages=c.interactions,
            contact=c.contact or "",
            consent=", ".join(c.consent) or "none",
            last_channel=c.last_channel or "",
        )
    listing.notes.append(shown_note(len(rows), total, "customers"))
    listing.notes.append(times_note(zone))
    return listing


def tier_listing(rows: Iterable[tuple[str, int, float, float]]) -> Listing:
    listing = Listing(
        [
            Column("tier", "value tier", needed=True, name=True),
            Column("customers", "customers", Kind.COUNT, needed=True),
            Column("spend_amount", "total spend", Kind.MONEY, needed=True),
            Column(
                "predicted_amount",
                "next 12 months",
                Kind.MONEY,
                legend="predicted spend",
            ),
        ]
    )
    for tier, n, spend, predicted in rows:
        listing.add(tier=tier, customers=n, spend_amount=spend, predicted_amount=predicted)
    return listing


def segment_listing(rows: Iterable[tuple[int, str, str, int]]) -> Listing:
    """(id, name, rule in words, members now) per segment."""
    listing = Listing(
        [
            _ID,
            Column("name", "name", needed=True, name=True),
            Column("customers", "customers", Kind.COUNT, needed=True),
            Column("rule", "rule", needed=True),
        ]
    )
    for sid, name, rule, members in rows:
        listing.add(id=str(sid), name=name, customers=members, rule=rule)
    return listing


def campaign_listing(rows: Iterable[tuple[CampaignView, str, str]], zone: ZoneInfo) -> Listing:
    """(campaign, schedule in words, next run in words) per campaign."""
    listing = Listing(
        [
            _ID,
            Column("name", "name", needed=True, name=True),
            Column("status", "status", needed=True),
            Column("next_run", "next run", needed=True),
            Column("schedule", "schedule"),
            Column("kind", "kind"),
            Column("channel", "channel"),
        ]
    )
    for c, schedule, next_run in rows:
        listing.add(
            id=str(c.id),
            name=c.name,
            status=c.status,
            next_run=next_run,
            schedule=schedule,
            kind=c.kind,
            channel=c.channel,
        )
    listing.notes.append(times_note(zone))
    return listing


def conversation_listing(rows: Sequence[ConversationView], zone: ZoneInfo) -> Listing:
    listing = Listing(
        [
            _ID,
            Column("customer", "customer", needed=True, name=True),
            Column("status", "status", needed=True),
            Column("last_message_at", "last message", Kind.WHEN, needed=True),
            Column("agent", "agent", name=True),
            Column("channel", "channel"),
            Column("complaint", "complaint"),
            Column("follow_up_due_at", "follow up by", Kind.WHEN),
        ]
    )
    for v in rows:
        status = v.status + (f" (reopened ×{v.reopened_count})" if v.reopened_count else "")
        status += " (answer NOT delivered)" if v.send_error else ""
        listing.add(
            id=str(v.id),
            customer=f"#{v.customer_id} {v.customer_name or ''}".strip(),
            status=status,
            last_message_at=v.last_message_at,
            agent=v.assigned_name or "",
            channel=v.channel,
            complaint="yes" if v.is_complaint else "",
            follow_up_due_at=v.follow_up_due,
        )
    listing.notes.append(times_note(zone))
    return listing


def follow_up_listing(
    rows: Sequence[FollowUpView], zone: ZoneInfo, now: datetime, reasons: dict[str, str]
) -> Listing:
    listing = Listing(
        [
            Column("conversation", "conv.", needed=True, legend="conversation id"),
            Column("customer", "customer", needed=True, name=True),
            Column("due_at", "due", Kind.WHEN, needed=True),
            Column("status", "status", needed=True),
            Column("agent", "agent", name=True),
            Column("reason", "reason"),
            Column("done_at", "done", Kind.WHEN),
        ]
    )
    for v in rows:
        listing.add(
            conversation=str(v.conversation_id),
            customer=f"#{v.customer_id} {v.customer_name or ''}".strip(),
            due_at=v.due_at,
            status=("OVERDUE " if v.overdue(now) else "") + v.status,
            agent=v.assigned_name or "",
            reason=reasons.get(v.reason or "", v.reason or ""),
            done_at=v.done_at,
        )
    listing.notes.append(times_note(zone))
    return listing


def staff_listing(rows: Iterable[StaffView]) -> Listing:
    listing = Listing(
        [
            _ID,
            Column("name", "name", needed=True, name=True),
            Column("role", "role", needed=True),
            Column("active", "active", needed=True),
            Column("telegram_id", "telegram id"),
            Column("email", "email"),
        ]
    )
    for m in rows:
        listing.add(
            id=str(m.id),
            name=m.name,
            role=m.role,
            active="yes" if m.active else "no",
            telegram_id=str(m.telegram_user_id or ""),
            email=m.email or "",
        )
    return listing


def audit_listing(rows: Iterable[AuditEntry], zone: ZoneInfo) -> Listing:
    listing = Listing(
        [
            Column("happened_at", "when", Kind.WHEN, needed=True),
            Column("who", "who", needed=True, name=True),
            Column("what", "what", needed=True),
            Column("customer", "customer"),
            Column("detail", "detail"),
        ]
    )
    for e in rows:
        listing.add(
            happened_at=e.at,
            who=e.actor,
            what=e.action,
            customer=str(e.customer_id or ""),
            detail=e.detail or "",
        )
    listing.notes.append(times_note(zone))
    return listing


def programme_listing(rows: Iterable[Programme], installed: set[str]) -> Listing:
    """Programme templates: the name one types first, then what it is and what it creates."""
    listing = Listing(
        [
            Column("name", "name", needed=True, name=True),
            Column("title", "programme", needed=True),
            Column("installed", "installed", needed=True),
            Column("creates", "creates"),
            Column(
                "standard",
                "standard",
                legend="the competency standard the programme serves",
            ),
        ]
    )
    for p in rows:
        creates = "; ".join(f"{s.campaign.name} ({s.campaign.kind})" for s in p.steps)
        listing.add(
            name=p.name,
            title=f"{p.title}: {p.description}",
            installed="yes" if p.name in installed else "no",
            creates=creates,
            standard=p.competency,
        )
    return listing
