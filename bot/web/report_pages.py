"""Reports: desk, value and retention pages with bar charts, filters and CSV downloads.

Each table is a listing from rapport.bot.report_listings, the code behind
`rapport report desk|retention|churn|acquisition` and `rapport customers
values`, so the numbers are the CLI's; a page shows `Listing.cells` (the
CLI table's formatting) and its CSV download is `listing_csv`, byte for byte
what `--format csv` prints, audited as "report.export" like the programme
exports. Charts are bars drawn with <meter> elements: no script, no inline
style, readable at phone width. Filters are the CLI's options: desk takes
days or a from/to date range (business time zone), retention months and the
dormancy that counts as churn, acquisition months and one segment.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from rapport.bot import report_listings
from rapport.bot.present.listing import Listing, Style, listing_csv
from rapport.bot.web.console import Console, Staff
from rapport.bot.web.pages import download
from rapport.crm.errors import InvalidInput, RapportError
from rapport.crm.reports.programmes import Period
from rapport.crm.segments.saved import list_segments
from rapport.crm.staff.audit import record
from rapport.crm.staff.roles import Permission

MAX_DAYS = 3650
MAX_MONTHS = 60


@dataclass(frozen=True, slots=True)
class Filters:
    """A report page's query, checked as the CLI's options are."""

    days: int = 30
    first: date | None = None
    last: date | None = None
    months: int = 12
    dormancy_days: int = 90
    segment: str | None = None

    def period(self, console: Console) -> Period:
        if not 1 <= self.days <= MAX_DAYS:
            raise InvalidInput(f"days is from 1 to {MAX_DAYS}")
        if (self.first is None) != (self.last is None):
            raise InvalidInput("give both dates of the range (or a number of days)")
        if self.first is not None and self.last is not None:
            return report_listings.period_between(self.first, self.last, console.settings.zone)
        return Period.last_days(self.days, console.clock())

    def checked_months(self) -> int:
        if not 1 <= self.months <= MAX_MONTHS:
            raise InvalidInput(f"months is from 1 to {MAX_MONTHS}")
        if self.dormancy_days < 1:
            raise InvalidInput("dormancy is at least 1 day")
        return self.months


def _query(request: Request) -> Filters:
    """The filters from the query string; bad numbers or dates are one clear line."""
    q = request.query_params
    try:
        return Filters(
            days=int(q.get("days") or 30),
            first=date.fromisoformat(q["from"]) if q.get("from") else None,
            last=date.fromisoformat(q["to"]) if q.get("to") else None,
            months=int(q.get("months") or 12),
            dormancy_days=int(q.get("dormancy_days") or 90),
            segment=(q.get("segment") or "").strip() or None,
        )
    except ValueError:
        raise InvalidInput("days and months are whole numbers, dates are YYYY-MM-DD") from None


def tables(console: Console, report: str, f: Filters) -> dict[str, Listing]:
    """The listings a report page shows, by the name of their CSV download."""
    db, zone, now = console.db, console.settings.zone, console.clock()
    if report == "desk":
        return {"desk": report_listings.desk(db, console.settings, f.period(console), now)}
    if report == "value":
        return {"value": report_listings.value(db)}
    if report == "retention":
        months = f.checked_months()
        return {
            "retention": report_listings.retention(db, zone, months, now),
            "churn": report_listings.churn(db, zone, months, f.dormancy_days, now),
            "acquisition": report_listings.acquisitions(db, zone, months, f.segment, now),
        }
    raise InvalidInput("reports here are desk, value and retention")


CSV_OF = {"desk": "desk", "value": "value", "retention": "retention", "churn": "retention",
          "acquisition": "retention"}  # fmt: skip
"""Which page each CSV download belongs to."""

CHART = {"desk": ("within_policy_pct",), "value": ("customers",),
         "retention": ("m1_pct", "customers"), "churn": ("churned",),
         "acquisition": ("total",)}  # fmt: skip
"""The column each table's bar chart draws: the first the table has (cohorts have no
"+1" column until a month has passed since the first)."""


def charted(listing: Listing, report: str) -> str:
    keys = {c.key for c in listing.columns}
    return next((k for k in CHART[report] if k in keys), CHART[report][-1])


def bars(listing: Listing, key: str, style: Style) -> list[tuple[str, float, float, str]]:
    """(label, value, scale maximum, shown text) per row, for <meter> bars (none without
    the column)."""
    name = next((c for c in listing.columns if c.name), None)
    column = next((c for c in listing.columns if c.key == key), None)
    if name is None or column is None:  # e.g. cohorts with no month after their first yet
        return []
    values = [r.get(key) for r in listing.rows]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    top = 1.0 if key.endswith("_pct") else max(numbers, default=0.0) or 1.0
    cells = listing.cells(style)
    label_at = list(listing.columns).index(name)
    at = list(listing.columns).index(column)
    return [
        (cells[n][label_at], float(v) if isinstance(v, int | float) else 0.0, top, cells[n][at])
        for n, v in enumerate(values)
    ]


def report_pages_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    reader = Depends(console.staff(Permission.VIEW_REPORTS))

    def look() -> Style:
        return Style(zone=console.settings.zone, currency=console.settings.currency)

    @router.get("/reports/{report}.csv")  # before the page's route, which would match too
    async def csv_download(request: Request, report: str, staff: Staff = reader) -> Response:
        def made() -> str:
            if report not in CSV_OF:
                raise InvalidInput(f"downloads here are {', '.join(CSV_OF)}")
            listing = tables(console, CSV_OF[report], _query(request))[report]
            with console.db.transaction() as session:
                record(session, staff.actor, "report.export", detail=f"{report} csv")
            return listing_csv(listing, look())

        try:
            text = await asyncio.to_thread(made)
        except RapportError as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        return download(text, f"rapport-{report}.csv", "text/csv; charset=utf-8")

    @router.get("/reports/{report}")
    async def page(request: Request, report: str, staff: Staff = reader) -> Response:
        def read() -> dict[str, Any]:
            f = _query(request)
            shown = tables(console, report, f)
            style = look()
            return {
                "report": report,
                "f": f,
                "tables": [
                    (key, t, t.cells(style), bars(t, charted(t, key), style), charted(t, key))
                    for key, t in shown.items()
                ],
                "segments": [s.name for s in list_segments(console.db)],
                "query": request.url.query,
            }

        try:
            context = await asyncio.to_thread(read)
        except RapportError as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)
        return console.page(request, staff, "report_listing.html", context)

    return router
