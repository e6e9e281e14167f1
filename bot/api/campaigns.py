"""/campaigns: list them, run one now (as `rapport campaigns run-now`), follow a run."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Response

from rapport.bot.api.deps import ApiDeps
from rapport.bot.api.models import CampaignOut, CampaignPage, RunOut, RunRequest
from rapport.crm.campaigns.definitions import CampaignView, get_campaign, list_campaigns
from rapport.crm.campaigns.progress import RunProgress, run_progress
from rapport.crm.campaigns.runs import start_run
from rapport.crm.integrations.api_keys import ApiPrincipal
from rapport.crm.staff.roles import Permission

Allow = Callable[[Permission], Callable[..., ApiPrincipal]]


def _campaign(c: CampaignView) -> CampaignOut:
    return CampaignOut(
        id=c.id, name=c.name, kind=c.kind, status=c.status, channel=c.channel,
        segment_id=c.segment_id, schedule_cron=c.schedule_cron, run_at=c.run_at,
        survey_kind=c.survey_kind, created_at=c.created_at,
    )  # fmt: skip


def _run(p: RunProgress, created: bool) -> RunOut:
    return RunOut(
        run_id=p.run_id, campaign_id=p.campaign_id, created=created,
        scheduled_for=p.scheduled_for, trigger=p.trigger, total=p.total,
        by_status=p.by_status, skipped=p.skipped, done=p.done,
    )  # fmt: skip


def add_campaign_routes(router: APIRouter, deps: ApiDeps, allow: Allow) -> None:
    db = deps.db
    may_run = allow(Permission.RUN_CAMPAIGNS)

    @router.get("/campaigns", response_model=CampaignPage, tags=["campaigns"])
    def campaigns(_key: ApiPrincipal = Depends(may_run)) -> CampaignPage:  # noqa: B008
        """Every campaign with its status and schedule."""
        return CampaignPage(campaigns=[_campaign(c) for c in list_campaigns(db)])

    @router.get("/campaigns/{campaign}", response_model=CampaignOut, tags=["campaigns"])
    def campaign(campaign: str, _key: ApiPrincipal = Depends(may_run)) -> CampaignOut:  # noqa: B008
        """One campaign, by id or by name."""
        return _campaign(get_campaign(db, campaign))

    @router.post("/campaigns/{campaign}/runs", response_model=RunOut, tags=["campaigns"])
    def run_now(
        campaign: str,
        response: Response,
        body: RunRequest | None = None,
        _key: ApiPrincipal = Depends(may_run),  # noqa: B008
    ) -> RunOut:
        """Run the campaign now: its deliveries are made and the dispatcher sends them.

        This minute's slot runs once (200 with `created: false` when asked again);
        `again: true` runs it once more on purpose. 201 when a run was made.
        """
        c = get_campaign(db, campaign)
        summary = start_run(
            db, c.id, trigger="manual", channels=deps.channels,
            frequency_cap=deps.settings.frequency_cap_per_week, now=deps.clock(),
            again=bool(body and body.again),
        )  # fmt: skip
        if summary.created and summary.queued:
            deps.wake_dispatcher()
        response.status_code = 201 if summary.created else 200
        return _run(run_progress(db, summary.run_id), summary.created)

    @router.get("/campaigns/{campaign}/runs/{run_id}", response_model=RunOut, tags=["campaigns"])
    def run_status(
        campaign: str,
        run_id: int,
        _key: ApiPrincipal = Depends(may_run),  # noqa: B008
    ) -> RunOut:
        """A run's progress: deliveries by status and skips by reason."""
        c = get_campaign(db, campaign)
        return _run(run_progress(db, run_id, campaign_id=c.id), True)
