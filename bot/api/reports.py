"""/reports: the programme report, the same figures as `rapport report programmes`."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Query

from rapport.bot.api.deps import ApiDeps
from rapport.bot.api.models import Metrics, ProgrammeReport
from rapport.crm.campaigns.definitions import get_campaign
from rapport.crm.integrations.api_keys import ApiPrincipal
from rapport.crm.reports.programmes import (
    Period,
    ProgrammeMetrics,
    campaign_ids_for_segment,
    programme_metrics,
)
from rapport.crm.staff.roles import Permission

Allow = Callable[[Permission], Callable[..., ApiPrincipal]]


def _metrics(m: ProgrammeMetrics) -> Metrics:
    return Metrics(
        targeted=m.targeted, delivered=m.delivered, failed=m.failed, pending=m.pending,
        bounced=m.bounced, skipped=m.skipped, responded=m.responded, engaged=m.engaged,
        survey_answers=m.survey_answers, csat_mean=m.csat_mean,
        csat_satisfied_pct=m.csat_satisfied_pct, nps=m.nps, cost=m.cost,
        bounce_rate=m.bounce_rate, response_rate=m.response_rate,
        participation_rate=m.participation_rate, cost_per_participant=m.cost_per_participant,
    )  # fmt: skip


def add_report_routes(router: APIRouter, deps: ApiDeps, allow: Allow) -> None:
    db = deps.db

    @router.get("/reports/programmes", response_model=ProgrammeReport, tags=["reports"])
    def programmes(
        days: int = Query(30, ge=1, le=3660, description="Period length, ending now"),
        campaign: str | None = Query(None, description="One campaign (id or name)"),
        segment: str | None = Query(None, description="The campaigns of one segment"),
        _key: ApiPrincipal = Depends(allow(Permission.VIEW_REPORTS)),  # noqa: B008
    ) -> ProgrammeReport:
        """Delivered, skipped, response, participation, CSAT and NPS, against the period before."""
        ids = None
        if campaign is not None:
            ids = [get_campaign(db, campaign).id]
        elif segment is not None:
            ids = campaign_ids_for_segment(db, segment)
        period = Period.last_days(days, deps.clock())
        return ProgrammeReport(
            start=period.start,
            end=period.end,
            current=_metrics(programme_metrics(db, campaign_ids=ids, period=period)),
            previous=_metrics(programme_metrics(db, campaign_ids=ids, period=period.previous())),
        )
