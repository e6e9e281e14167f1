"""`/desk_report`: the contact policy, measured (the same listing `rapport report desk` prints).

Response and resolution times (p50/p90, business time), breaches, recovery and
follow-ups, for everyone, each agent and each segment (definitions: docs/desk.md).
"""

from __future__ import annotations

import asyncio

from rapport.bot.present import times
from rapport.bot.present.listing import Style
from rapport.bot.present.reports import desk_listing
from rapport.bot.staff.kit import Call, Commands, parse_days, say
from rapport.crm.clock import utcnow
from rapport.crm.desk.report import DeskReport, desk_report
from rapport.crm.desk.rules import load_rules
from rapport.crm.errors import InvalidInput
from rapport.crm.reports.programmes import Period


def desk_lines(report: DeskReport, style: Style, days: int) -> list[str]:
    """The contact-policy report as chat lines: a group per line, every figure named."""
    listing = desk_listing(report, style.zone)
    p = report.period
    lines = [
        f"Contact policy, conversations opened in the last {days} days: "
        f"{times.period(p.start, p.end, style.zone)} (business time; definitions: docs/desk.md)"
    ]
    for cells in listing.cells(style):
        group, conversations, *figures = cells
        named = ", ".join(
            f"{c.full} {v}" for c, v in zip(listing.columns[2:], figures, strict=True)
        )
        label = "All" if group == "all" else group
        lines.append(f"{label}: {conversations} conversations, {named}")
    return lines


async def desk_report_command(cmds: Commands, call: Call) -> None:
    if len(call.args) > 1:
        raise InvalidInput("give at most a number of days")
    days = parse_days(call.args[0]) if call.args else 30
    rules = load_rules(cmds.settings)
    now = utcnow()
    report = await asyncio.to_thread(desk_report, cmds.db, rules, Period.last_days(days, now), now)
    lines = desk_lines(report, Style(cmds.settings.zone, cmds.settings.currency), days)
    await say(call.bot, call.chat_id, "\n".join(lines))
