"""Report exports as CSV: the rows staff open in a spreadsheet.

One row per campaign or per segment, with exactly the figures of
`ProgrammeMetrics.as_row()` (definitions in docs/reports.md) plus one
column per skip reason. A figure with no data (a rate over zero
deliveries) is an empty cell, never 0, so a spreadsheet does not average
it in. Exporting writes an AuditEvent: a CSV leaves the system.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from rapport.crm.database import Database
from rapport.crm.errors import InvalidInput
from rapport.crm.reports.programmes import (
    Period,
    ProgrammeMetrics,
    metrics_per_campaign,
    metrics_per_segment,
)
from rapport.crm.staff.audit import Actor, record

EXPORTS = {
    "campaigns": "one row per campaign",
    "segments": "one row per segment, over its campaigns",
}
SKIPPED_PREFIX = "skipped_"


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    content: bytes
    rows: int


def report_rows(
    items: Sequence[tuple[int, str, ProgrammeMetrics]], key: str
) -> list[dict[str, object]]:
    """`key` names the id column ("campaign_id", "segment_id")."""
    reasons = sorted({reason for _, _, m in items for reason in m.skipped})
    rows = []
    for item_id, name, metrics in items:
        row: dict[str, object] = {key: item_id, "name": name, **metrics.as_row()}
        for reason in reasons:
            row[SKIPPED_PREFIX + reason] = metrics.skipped.get(reason, 0)
        rows.append(row)
    return rows


def to_csv(rows: Sequence[dict[str, object]]) -> bytes:
    """UTF-8 with a BOM (spreadsheets then read names right); None as an empty cell."""
    if not rows:
        return b""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue().encode("utf-8-sig")


def export_report(db: Database, actor: Actor, report: str, period: Period, days: int) -> Export:
    """Build the CSV for one report; audited like any other data leaving the system."""
    if report not in EXPORTS:
        raise InvalidInput(f"no export {report!r}; choose one of: {', '.join(EXPORTS)}")
    if report == "campaigns":
        rows = report_rows(metrics_per_campaign(db, period=period), "campaign_id")
    else:
        rows = report_rows(metrics_per_segment(db, period=period), "segment_id")
    if not rows:
        raise InvalidInput(f"there are no {report} to export yet")
    with db.transaction() as session:
        record(
            session, actor, "report.export", detail=f"{report}, last {days} days, {len(rows)} rows"
        )
    stamp = period.end.strftime("%Y-%m-%d")
    return Export(f"rapport-{report}-{days}d-{stamp}.csv", to_csv(rows), len(rows))
