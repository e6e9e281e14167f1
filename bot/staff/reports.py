"""Programme reports for staff: `/report` in words, `/export` as CSV, `/chart` as PNG."""

from __future__ import annotations

import asyncio

from telegram import InputFile

from rapport.bot import charts, exports
from rapport.bot.present import times
from rapport.bot.present.listing import Style
from rapport.bot.report_text import comparison_rows
from rapport.bot.staff.kit import (
    DEFAULT_DAYS,
    Call,
    Commands,
    StaffCommand,
    last_days,
    parse_days,
    say,
)
from rapport.crm.campaigns.definitions import get_campaign
from rapport.crm.errors import InvalidInput
from rapport.crm.reports.programmes import (
    Period,
    ProgrammeMetrics,
    programme_metrics,
    segment_campaign_ids,
)
from rapport.crm.staff.roles import Permission, actor_for


def metrics_lines(
    now: ProgrammeMetrics, before: ProgrammeMetrics, period: Period, style: Style, days: int
) -> list[str]:
    """The report figures (docs/reports.md), each with the previous period's in brackets."""
    pairs = comparison_rows(now, before, period, style, days)
    return [f"{name}: {a} (before: {b})" for name, a, b in pairs]


async def report(cmds: Commands, call: Call) -> None:
    args = list(call.args)
    days = DEFAULT_DAYS
    scoped = bool(args) and args[0] in ("campaign", "segment")
    if args and args[-1].isdigit() and len(args) != (2 if scoped else 0):
        days = parse_days(args.pop())

    def read() -> str:
        ids: list[int] | None = None
        scope = "all campaigns"
        if args:
            kind, name = args[0], " ".join(args[1:])
            if kind not in ("campaign", "segment") or not name:
                raise InvalidInput("say /report, /report campaign <id> or /report segment <name>")
            if kind == "campaign":
                c = get_campaign(cmds.db, name)
                ids, scope = [c.id], f"campaign #{c.id} {c.name}"
            else:
                ids, scope = segment_campaign_ids(cmds.db, name), f"segment {name}"
        period = last_days(days)
        now = programme_metrics(cmds.db, campaign_ids=ids, period=period)
        before = programme_metrics(cmds.db, campaign_ids=ids, period=period.previous())
        look = Style(cmds.settings.zone, cmds.settings.currency)
        head = (
            f"Report for {scope}, last {days} days: "
            f"{times.period(period.start, period.end, look.zone)} (before: the {days} days before)"
        )
        return "\n".join([head, *metrics_lines(now, before, period, look, days)])

    await say(call.bot, call.chat_id, await asyncio.to_thread(read))


def _report_and_days(call: Call, known: dict[str, str]) -> tuple[str, int]:
    if not call.args or call.args[0] not in known:
        raise InvalidInput("choose one of: " + ", ".join(known))
    if len(call.args) > 2:
        raise InvalidInput("give a report name and optionally a number of days")
    return call.args[0], parse_days(call.args[1]) if len(call.args) == 2 else DEFAULT_DAYS


async def export(cmds: Commands, call: Call) -> None:
    name, days = _report_and_days(call, exports.EXPORTS)
    made = await asyncio.to_thread(
        exports.export_report,
        cmds.db,
        actor_for(call.member),
        name,
        last_days(days),
        days,
        Style(cmds.settings.zone, cmds.settings.currency),
    )
    await call.bot.send_document(
        chat_id=call.chat_id,
        document=InputFile(made.content, filename=made.filename),
        caption=f"{name}, last {days} days: {made.rows} rows (definitions: docs/reports.md)",
    )


async def chart(cmds: Commands, call: Call) -> None:
    name, days = _report_and_days(call, charts.CHARTS)
    period = last_days(days)
    label = f"last {days} days"

    png = await asyncio.to_thread(
        lambda: charts.draw_report(
            cmds.db,
            name,
            period,
            label,
            zone=cmds.settings.zone,
            thresholds=charts.chart_thresholds(cmds.settings),
        )
    )
    await call.bot.send_photo(
        chat_id=call.chat_id,
        photo=InputFile(png, filename=f"{name}.png"),
        caption=f"{name}, {label}",
    )


REPORT_COMMANDS = (
    StaffCommand(
        "report",
        Permission.VIEW_REPORTS,
        "[campaign <id>|segment <name>] [days]",
        "programme figures for a period against the one before",
        report,
    ),
    StaffCommand(
        "export",
        Permission.VIEW_REPORTS,
        "<" + "|".join(exports.EXPORTS) + "> [days]",
        "the report rows as a CSV document (audited)",
        export,
    ),
    StaffCommand(
        "chart",
        Permission.VIEW_REPORTS,
        "<" + "|".join(charts.CHARTS) + "> [days]",
        "a PNG chart of the report",
        chart,
    ),
)
