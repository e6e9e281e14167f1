"""`/desk_report` and the rows `rapport report desk` prints: the contact policy, measured.

Response and resolution times (p50/p90, business time), breaches, recovery and
follow-ups, for everyone, each agent and each segment (definitions: docs/desk.md).
"""

from __future__ import annotations

import asyncio

from rapport.bot.staff.kit import Call, Commands, parse_days, say
from rapport.crm.clock import utcnow
from rapport.crm.desk.report import DeskReport, DeskRow, desk_report
from rapport.crm.desk.rules import load_rules
from rapport.crm.errors import InvalidInput
from rapport.crm.reports.programmes import Period


def _minutes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def report_rows(report: DeskReport) -> list[tuple[str, ...]]:
    """One row per group (all, each agent, each segment): the same for /desk_report and the CLI."""

    def row(kind: str, r: DeskRow) -> tuple[str, ...]:
        kept = "—" if r.within_policy_pct is None else f"{r.within_policy_pct:.0f}%"
        csat = "—" if r.recovery_csat_mean is None else f"{r.recovery_csat_mean:.1f}"
        return (
            kind,
            r.group,
            str(r.conversations),
            f"{_minutes(r.first_response_p50)} / {_minutes(r.first_response_p90)}",
            f"{_minutes(r.resolution_p50)} / {_minutes(r.resolution_p90)}",
            f"{r.first_response_breaches} / {r.resolution_breaches}",
            kept,
            f"{r.complaints} / {csat} ({r.recovery_answers})",
            str(r.reopened),
            f"{r.follow_ups_overdue} / {r.follow_ups_done_late}",
        )

    return [
        row("total", report.overall),
        *(row("agent", r) for r in report.by_agent),
        *(row("segment", r) for r in report.by_segment),
    ]


REPORT_HEADER = (
    "",
    "group",
    "conversations",
    "first response p50 / p90",
    "resolution p50 / p90",
    "breaches first / resolution",
    "within policy",
    "complaints / recovery CSAT (answers)",
    "reopened",
    "follow-ups overdue / done late",
)


async def desk_report_command(cmds: Commands, call: Call) -> None:
    if len(call.args) > 1:
        raise InvalidInput("give at most a number of days")
    days = parse_days(call.args[0]) if call.args else 30
    rules = load_rules(cmds.settings)
    now = utcnow()
    report = await asyncio.to_thread(desk_report, cmds.db, rules, Period.last_days(days, now), now)
    lines = [
        f"Contact policy, conversations opened in the last {days} days "
        "(business time; definitions: docs/desk.md)"
    ]
    for row in report_rows(report):
        kind, group, n, first, resolution, breaches, kept, recovery, reopened, follow = row
        label = "All" if kind == "total" else f"{kind} {group}"
        lines.append(
            f"{label}: {n} conversations, first response p50/p90 {first}, "
            f"resolution {resolution}, breaches {breaches}, within policy {kept}, "
            f"complaints / recovery CSAT {recovery}, reopened {reopened}, "
            f"follow-ups overdue / done late {follow}"
        )
    await say(call.bot, call.chat_id, "\n".join(lines))
