"""Reports: the programme report as `rapport report programmes` prints it, a chart, CSV.

The figures are the CLI's own rows (rapport.bot.report_text.comparison_rows over
rapport.crm.reports.programmes), so the page and `rapport report programmes`
cannot disagree; the chart is the bot's PNG (rapport.bot.charts) and the CSV
the bot's export (audited as "report.export").
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from rapport.bot.charts import CHARTS, NothingToChart, draw_report
from rapport.bot.exports import EXPORTS, export_report
from rapport.bot.present.listing import Style
from rapport.bot.report_text import comparison_rows
from rapport.bot.web.console import Console, Staff
from rapport.bot.web.pages import download
from rapport.crm.errors import InvalidInput, RapportError
from rapport.crm.reports.programmes import Period, campaign_ids_for_segment, programme_metrics
from rapport.crm.segments.saved import list_segments
from rapport.crm.staff.roles import Permission

MAX_DAYS = 3650


def _days(value: int) -> int:
    if not 1 <= value <= MAX_DAYS:
        raise InvalidInput(f"days is from 1 to {MAX_DAYS}")
    return value


def reports_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    reader = Depends(console.staff(Permission.VIEW_REPORTS))

    @router.get("/reports")
    async def reports(
        request: Request, days: int = 30, segment: str | None = None, staff: Staff = reader
    ) -> Response:
        def read() -> dict[str, object]:
            n = _days(days)
            ids = campaign_ids_for_segment(console.db, segment) if segment else None
            period = Period.last_days(n, console.clock())
            now_m = programme_metrics(console.db, campaign_ids=ids, period=period)
            before = programme_metrics(console.db, campaign_ids=ids, period=period.previous())
            return {
                "rows": comparison_rows(
                    now_m,
                    before,
                    period,
                    Style(zone=console.settings.zone, currency=console.settings.currency),
                    n,
                ),
                "days": n,
                "segment": segment or "",
                "segments": [s.name for s in list_segments(console.db)],
                "charts": CHARTS,
                "exports": EXPORTS,
            }

        try:
            context = await asyncio.to_thread(read)
        except RapportError as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)
        return console.page(request, staff, "reports.html", context)

    @router.get("/reports/chart/{name}.png")
    async def chart(name: str, days: int = 30, staff: Staff = reader) -> Response:
        try:
            period = Period.last_days(_days(days), console.clock())
            png = await asyncio.to_thread(
                draw_report, console.db, name, period, f"last {days} days"
            )
        except NothingToChart as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        except InvalidInput as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @router.get("/reports/export/{report}.csv")
    async def export(report: str, days: int = 30, staff: Staff = reader) -> Response:
        try:
            n = _days(days)
            made = await asyncio.to_thread(
                export_report,
                console.db,
                staff.actor,
                report,
                Period.last_days(n, console.clock()),
                n,
            )
        except InvalidInput as exc:
            return Response(str(exc), status_code=400, media_type="text/plain")
        return download(made.content, made.filename, "text/csv; charset=utf-8")

    return router
