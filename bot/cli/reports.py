"""`rapport report …`: programme, acquisition, retention and desk reports, CSV and charts.

Every report is shown through rapport.bot.present: periods and months in
RAPPORT_TIMEZONE with the zone named, one number style, `--format csv|json`
for scripts. A segment or campaign that does not exist is an error with the
nearest known name, never a report of zeros.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from rapport.bot.cli.common import cli_actor, configured_settings, open_db, out, style
from rapport.bot.cli.render import FormatOption, OutputFormat, WideOption, show
from rapport.crm.clock import utcnow

app = typer.Typer(no_args_is_help=True, help="Programme reports.")


@app.command("programmes")
def report_programmes(
    campaign: Annotated[str | None, typer.Option(help="One campaign (id or name).")] = None,
    segment: Annotated[str | None, typer.Option(help="Campaigns of one segment.")] = None,
    days: Annotated[int, typer.Option(min=1, help="Period length, ending now.")] = 30,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """Delivered, skipped, response, participation, CSAT and NPS, against the period before.

    Example: rapport report programmes --segment recent --days 90
    """
    from rapport.bot.present.reports import comparison_listing, metrics_listing
    from rapport.crm.campaigns.definitions import get_campaign
    from rapport.crm.reports.programmes import Period, programme_metrics, segment_campaign_ids

    settings = configured_settings()
    look = style(settings)
    with open_db(settings.database_url) as db:
        ids = None
        if campaign is not None:
            ids = [get_campaign(db, campaign).id]
        elif segment is not None:
            ids = segment_campaign_ids(db, segment)
        period = Period.last_days(days, utcnow())
        now_m = programme_metrics(db, campaign_ids=ids, period=period)
        before = programme_metrics(db, campaign_ids=ids, period=period.previous())
    if fmt is OutputFormat.TABLE:
        show(comparison_listing(now_m, before, period, look, days), look, fmt, wide=wide)
    else:
        items = [("this", period, now_m), ("before", period.previous(), before)]
        show(metrics_listing(items, settings.zone), look, fmt)


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
    from rapport.crm.reports.programmes import Period

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        period = Period.last_days(days, utcnow())
        made = export_report(db, cli_actor(), report, period, days, style(settings))
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
    from rapport.bot.charts import chart_thresholds, draw_report
    from rapport.crm.reports.programmes import Period

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        png = draw_report(
            db,
            chart,
            Period.last_days(days, utcnow()),
            f"last {days} days",
            zone=settings.zone,
            thresholds=chart_thresholds(settings),
        )
        path = to or Path(f"rapport-{chart}-{days}d.png")
        path.write_bytes(png)
        out.print(f"wrote {path}")


@app.command("acquisition")
def report_acquisition(
    months: Annotated[
        int, typer.Option(min=1, max=120, help="Months back, this one included.")
    ] = 12,
    segment: Annotated[str | None, typer.Option(help="Only customers this segment picks.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """New customers per month of first contact, by first channel (months in RAPPORT_TIMEZONE).

    Example: rapport report acquisition --months 6
    """
    from rapport.bot import report_listings

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        listing = report_listings.acquisitions(db, settings.zone, months, segment, utcnow())
    show(listing, style(settings), fmt, wide=wide)


@app.command("retention")
def report_retention(
    months: Annotated[
        int, typer.Option(min=1, max=60, help="Cohorts back, this one included.")
    ] = 12,
    dormancy_days: Annotated[int, typer.Option(min=1, help="Silence that counts as churn.")] = 90,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """Retention cohorts (share active n months after first contact), churned and reactivated.

    The month still running is marked: it has only its first days, so its
    shares are low and its churn is not yet a month's.

    Example: rapport report retention --months 12 --dormancy-days 90
    """
    from rapport.bot import report_listings

    settings = configured_settings()
    zone, look = settings.zone, style(settings)
    with open_db(settings.database_url) as db:
        now = utcnow()
        cohorts = report_listings.retention(db, zone, months, now)
        churn = report_listings.churn(db, zone, months, dormancy_days, now)
    show(cohorts, look, fmt, wide=wide)
    if fmt is OutputFormat.TABLE:
        out.print()
        show(churn, look, fmt, wide=wide)


@app.command("churn")
def report_churn(
    months: Annotated[
        int, typer.Option(min=1, max=60, help="Months back, this one included.")
    ] = 12,
    dormancy_days: Annotated[int, typer.Option(min=1, help="Silence that counts as churn.")] = 90,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """New, active, churned and reactivated customers per month (the table under retention).

    Example: rapport report churn --months 6 --format csv
    """
    from rapport.bot import report_listings

    settings = configured_settings()
    with open_db(settings.database_url) as db:
        listing = report_listings.churn(db, settings.zone, months, dormancy_days, utcnow())
    show(listing, style(settings), fmt, wide=wide)


@app.command("desk")
def report_desk(
    days: Annotated[int, typer.Option(min=1, help="Conversations opened in this many days.")] = 30,
    first: Annotated[
        datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day (RAPPORT_TIMEZONE)."),
    ] = None,
    last: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day, included (with --from)."),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
) -> None:
    """First response and resolution times (p50/p90, business time), breaches, per agent/segment.

    Example: rapport report desk --days 7   (or --from 2026-11-01 --to 2026-11-30)
    """
    from rapport.bot import report_listings
    from rapport.crm.errors import InvalidInput
    from rapport.crm.reports.programmes import Period

    settings = configured_settings()
    now = utcnow()
    if (first is None) != (last is None):
        raise InvalidInput("give --from and --to together (or --days)")
    period = (
        report_listings.period_between(first.date(), last.date(), settings.zone)
        if first is not None and last is not None
        else Period.last_days(days, now)
    )
    with open_db(settings.database_url) as db:
        listing = report_listings.desk(db, settings, period, now)
    show(listing, style(settings), fmt, wide=wide)
