"""`rapport report …`: programme, acquisition, retention and desk reports, CSV and charts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out
from rapport.bot.report_text import comparison_rows, pct
from rapport.crm.campaigns.definitions import get_campaign
from rapport.crm.clock import utcnow
from rapport.crm.reports.programmes import Period, campaign_ids_for_segment, programme_metrics

app = typer.Typer(no_args_is_help=True, help="Programme reports.")


@app.command("programmes")
def report_programmes(
    campaign: Annotated[str | None, typer.Option(help="One campaign (id or name).")] = None,
    segment: Annotated[str | None, typer.Option(help="Campaigns of one segment.")] = None,
    days: Annotated[int, typer.Option(min=1, help="Period length, ending now.")] = 30,
) -> None:
    """Delivered, skipped, response, participation, CSAT and NPS, against the period before.

    Example: rapport report programmes --segment recent --days 90
    """
    with open_db(configured_settings().database_url) as db:
        ids = None
        if campaign is not None:
            ids = [get_campaign(db, campaign).id]
        elif segment is not None:
            ids = campaign_ids_for_segment(db, segment)
        period = Period.last_days(days, utcnow())
        now_m = programme_metrics(db, campaign_ids=ids, period=period)
        before = programme_metrics(db, campaign_ids=ids, period=period.previous())
        table = Table("measure", f"last {days} days", f"the {days} days before")
        rows = comparison_rows(now_m, before)
        for row in rows:
            table.add_row(*row)
        out.print(table)


@app.command("export")
def report_export(
    report: Annotated[str, typer.Argument(help="campaigns or segments")],
    days: Annotated[int, typer.Option(min=1, help="Period length, ending now.")] = 30,
    to: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: a dated name).")
    ] = None,
) -> None:
    """The report rows as CSV, one row per campaign or per segment (audited, like /export).

    Example: rapport report export campaigns --days 30 --out campaigns.csv
    """
    from rapport.bot.exports import export_report

    with open_db(configured_settings().database_url) as db:
        made = export_report(db, cli_actor(), report, Period.last_days(days, utcnow()), days)
        path = to or Path(made.filename)
        path.write_bytes(made.content)
        out.print(f"wrote {made.rows} rows to {path}")


@app.command("chart")
def report_chart(
    chart: Annotated[str, typer.Argument(help="participation, satisfaction or sentiment")],
    days: Annotated[int, typer.Option(min=1, help="Period length, ending now.")] = 30,
    to: Annotated[Path | None, typer.Option("--out", help="PNG file to write.")] = None,
) -> None:
    """A PNG chart of the report, as /chart sends it.

    Example: rapport report chart satisfaction --days 90 --out csat.png
    """
    from rapport.bot.charts import draw_report

    with open_db(configured_settings().database_url) as db:
        png = draw_report(db, chart, Period.last_days(days, utcnow()), f"last {days} days")
        path = to or Path(f"rapport-{chart}-{days}d.png")
        path.write_bytes(png)
        out.print(f"wrote {path}")


@app.command("acquisition")
def report_acquisition(
    months: Annotated[
        int, typer.Option(min=1, max=120, help="Months back, this one included.")
    ] = 12,
    segment: Annotated[str | None, typer.Option(help="Only customers this segment picks.")] = None,
) -> None:
    """New customers per month of first contact, by first channel.

    Example: rapport report acquisition --months 6
    """
    from rapport.crm.reports.retention import acquisition, add_months, month_start

    with open_db(configured_settings().database_url) as db:
        now = utcnow()
        start = add_months(month_start(now), 1 - months)
        rows = acquisition(db, start, add_months(month_start(now), 1), segment=segment, now=now)
        channels = sorted({r.channel for r in rows})
        by_month: dict[str, dict[str, int]] = {}
        for r in rows:
            by_month.setdefault(r.month, {})[r.channel] = r.customers
        table = Table("month", *channels, "total")
        for n in range(months):
            month = f"{add_months(start, n):%Y-%m}"
            counts = by_month.get(month, {})
            table.add_row(
                month, *(str(counts.get(ch, 0)) for ch in channels), str(sum(counts.values()))
            )
        out.print(table)


@app.command("retention")
def report_retention(
    months: Annotated[
        int, typer.Option(min=1, max=60, help="Cohorts back, this one included.")
    ] = 12,
    dormancy_days: Annotated[int, typer.Option(min=1, help="Silence that counts as churn.")] = 90,
) -> None:
    """Retention cohorts (share active n months after first contact), churned and reactivated.

    Example: rapport report retention --months 12 --dormancy-days 90
    """
    from rapport.crm.reports.retention import (
        add_months,
        churn_and_reactivation,
        month_start,
        retention_cohorts,
    )

    with open_db(configured_settings().database_url) as db:
        now = utcnow()
        start = add_months(month_start(now), 1 - months)
        cohorts = retention_cohorts(db, start, now)
        width = max((len(c.active) for c in cohorts), default=1)
        table = Table("cohort", "customers", *(f"+{k}" for k in range(width)))
        for c in cohorts:
            cells = [pct(s) for s in c.shares]
            table.add_row(c.month, str(c.size), *cells, *([""] * (width - len(cells))))
        out.print(table)
        churn = Table("month", "new", "active", "churned", "reactivated")
        for r in churn_and_reactivation(db, start, months, dormancy_days=dormancy_days):
            churn.add_row(r.month, str(r.new), str(r.active), str(r.churned), str(r.reactivated))
        out.print(churn)


@app.command("desk")
def report_desk(
    days: Annotated[int, typer.Option(min=1, help="Conversations opened in this many days.")] = 30,
) -> None:
    """First response and resolution times (p50/p90, business time), breaches, per agent/segment.

    Example: rapport report desk --days 7
    """
    from rapport.bot.staff.desk_report import REPORT_HEADER, report_rows
    from rapport.crm.desk.report import desk_report
    from rapport.crm.desk.rules import load_rules

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        now = utcnow()
        report = desk_report(db, load_rules(settings), Period.last_days(days, now), now)
        table = Table(*REPORT_HEADER)
        for row in report_rows(report):
            table.add_row(*(escape(cell) for cell in row))
        out.print(table)
