"""Report exports as CSV: the rows staff open in a spreadsheet.

One row per campaign or per segment, with the figures of docs/reports.md in
the columns of `rapport.bot.present.reports.METRIC_COLUMNS` plus one
`skipped_<reason>` count per skip reason, each column in its documented unit
(shares in percent, `_pct`; money in the shop's currency; moments ISO 8601
in the business's zone). A figure with no data (a rate over zero
deliveries) is an empty cell, never 0, so a spreadsheet does not average
it in. Exporting writes an AuditEvent: a CSV leaves the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from rapport.bot.present.listing import Style, listing_csv
from rapport.bot.present.reports import metrics_listing
from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput, UnknownChoice
from rapport.crm.reports.programmes import (
    Period,
    metrics_per_campaign,
    metrics_per_segment,
)
from rapport.crm.staff.audit import Actor, record

EXPORTS = {
    "campaigns": "one row per campaign",
    "segments": "one row per segment, over its campaigns",
}


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    content: bytes
    rows: int


def export_report(
    db: Database,
    actor: Actor,
    report: str,
    period: Period,
    days: int,
    style: Style | None = None,
) -> Export:
    """Build the CSV for one report; audited like any other data leaving the system.

    UTF-8 with a BOM, so spreadsheets read names right. `style` gives the
    business's zone (for the period's times) and currency (UTC and EUR if not).
    """
    style = style or Style(ZoneInfo("UTC"))
    if report not in EXPORTS:
        raise UnknownChoice("export", report, EXPORTS)
    if report == "campaigns":
        items, key = metrics_per_campaign(db, period=period), "campaign_id"
    else:
        items, key = metrics_per_segment(db, period=period), "segment_id"
    if not items:
        raise InvalidInput(f"there are no {report} to export yet")
    listing = metrics_listing(
        [(name, period, m) for _, name, m in items],
        style.zone,
        "name",
        ids=(key, [item_id for item_id, _, _ in items]),
    )
    with db.transaction() as session:
        record(
            session, actor, "report.export", detail=f"{report}, last {days} days, {len(items)} rows"
        )
    stamp = period.end.astimezone(style.zone).strftime("%Y-%m-%d")
    content = listing_csv(listing, style).encode("utf-8-sig")
    return Export(f"rapport-{report}-{days}d-{stamp}.csv", content, len(items))
