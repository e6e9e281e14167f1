"""`/customer`: one customer's profile for staff, found by id, name, address or handle."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from rapport.bot.present.times import local
from rapport.bot.report_text import when
from rapport.bot.staff.kit import Call, Commands, StaffCommand, one_arg, say, snippet
from rapport.crm.customers.profiles import CustomerProfile, customer_profile, list_customers
from rapport.crm.errors import NotFound
from rapport.crm.segments.saved import points_of
from rapport.crm.segments.saved import segments_of as segments_of_customer
from rapport.crm.staff.roles import Permission, actor_for

MAX_MATCHES = 10


def profile_text(
    profile: CustomerProfile, points: int, segments: Sequence[str], zone: ZoneInfo
) -> str:
    """The `/customer` card; times in the business's zone with the zone shown."""
    s = profile.summary
    lines = [
        f"Customer #{s.id}: {s.display_name or '(no name)'}",
        f"since {when(profile.created_at, zone)}, first contact by {s.first_seen_channel}",
        f"last active: {when(s.last_activity_at, zone)} on {s.last_channel or '—'}",
        f"marketing consent: {'yes' if profile.marketing_consent else 'no'}",
        "identities: " + "; ".join(f"{ch} {ext}" for ch, ext in profile.identities),
        f"points: {points} · segments: {', '.join(segments) or 'none'}",
        f"messages: {s.interactions}, average sentiment "
        + ("—" if profile.average_polarity is None else f"{profile.average_polarity:+.2f}"),
        "open conversation: "
        + ("none" if profile.open_conversation_id is None else f"#{profile.open_conversation_id}"),
    ]
    if profile.recent:
        lines.append("recent:")
        for r in profile.recent:
            arrow = "←" if r.direction == "in" else "→"
            at = f"{local(r.sent_at, zone):%m-%d %H:%M}"
            lines.append(f"{at} {arrow} {r.channel}: {snippet(r.body)}")
        lines.append(f"(times in {zone.key})")
    return "\n".join(lines)


async def customer(cmds: Commands, call: Call) -> None:
    query = one_arg(call, "a customer id, name, email or @handle").strip()
    actor = actor_for(call.member)
    if query.isdigit():
        customer_id = int(query)
    else:
        matches = await asyncio.to_thread(
            list_customers, cmds.db, actor, search=query.lstrip("@"), limit=MAX_MATCHES + 1
        )
        if not matches:
            raise NotFound(f"no customer matches {query!r}")
        if len(matches) > 1:
            more = " (showing the first 10; be more specific)" if len(matches) > MAX_MATCHES else ""
            zone = cmds.settings.zone
            lines = [
                f"#{c.id} {c.display_name or '(no name)'}, "
                f"last active {when(c.last_activity_at, zone)}"
                for c in matches[:MAX_MATCHES]
            ]
            await say(
                call.bot,
                call.chat_id,
                f"Several customers match{more}:\n" + "\n".join(lines) + "\nSend /customer <id>.",
            )
            return
        customer_id = matches[0].id

    def read() -> str:
        profile = customer_profile(cmds.db, actor, customer_id)
        return profile_text(
            profile,
            points_of(cmds.db, customer_id),
            segments_of_customer(cmds.db, customer_id),
            cmds.settings.zone,
        )

    await say(call.bot, call.chat_id, await asyncio.to_thread(read))


CUSTOMER_COMMANDS = (
    StaffCommand(
        "customer",
        Permission.VIEW_CUSTOMERS,
        "<id|name|email|@handle>",
        "a customer's profile, identities, points, segments and recent messages (audited)",
        customer,
    ),
)
