"""Campaigns: list, create, a live preview for a chosen customer, test send, run, progress.

Everything is what the CLI does (`rapport campaigns create|preview|test|run-now`),
through the same functions: `create_campaign`, `preview_text` (the
dispatcher's rendering, the real mail renderer; an audited read of the
customer), `send_test` (marked [TEST], counts nowhere, audited) and
`start_run` (the run's deliveries; the running dispatcher sends them). The run
view polls its progress: queued, sent, failed, skipped by reason. Editing,
scheduling, pausing and resuming are rapport.bot.web.campaign_edit.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Row, select
from starlette.requests import Request

from rapport.bot.campaign_preview import preview_text, send_test
from rapport.bot.schedule_text import next_run, schedule_words
from rapport.bot.web.campaign_edit import DONE as EDIT_DONE
from rapport.bot.web.console import Console, Staff
from rapport.crm.campaigns.definitions import (
    LAST_ACTIVE,
    CampaignSpec,
    create_campaign,
    get_campaign,
    list_campaigns,
)
from rapport.crm.campaigns.progress import send_problems
from rapport.crm.campaigns.runs import run_progress, start_run
from rapport.crm.errors import RapportError
from rapport.crm.models import CampaignKind, CampaignRun
from rapport.crm.segments.saved import list_segments, preview
from rapport.crm.staff.roles import Permission

SAMPLE = 20
CHANNELS = (LAST_ACTIVE, "email", "telegram")


def _runs(console: Console, campaign_id: int) -> list[tuple[Row[int, datetime], dict[str, int]]]:
    """The campaign's latest runs (id, started_at: plain rows, not ORM objects) and counts."""
    with console.db.session() as session:
        runs = session.execute(
            select(CampaignRun.id, CampaignRun.started_at)
            .where(CampaignRun.campaign_id == campaign_id)
            .order_by(CampaignRun.id.desc())
            .limit(10)
        ).all()
    return [(run, run_progress(console.db, run.id)[0]) for run in runs]


def campaigns_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    manager = Depends(console.staff(Permission.RUN_CAMPAIGNS))

    def refused(request: Request, staff: Staff, exc: RapportError) -> Response:
        return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)

    @router.get("/campaigns")
    async def campaigns(request: Request, staff: Staff = manager) -> Response:
        found = await asyncio.to_thread(list_campaigns, console.db)
        segments = await asyncio.to_thread(list_segments, console.db)
        context = {
            "campaigns": found,
            "segments": segments,
            "kinds": list(CampaignKind),
            "channels": CHANNELS,
        }
        return console.page(request, staff, "campaigns.html", context)

    @router.post("/campaigns")
    async def create(request: Request, staff: Staff = manager) -> Response:
        form = await request.form()

        def text(name: str) -> str:
            return str(form.get(name, "")).strip()

        spec = CampaignSpec(
            name=text("name"),
            kind=text("kind"),
            segment=text("segment"),
            template=str(form.get("template", "")),
            channel=text("channel") or LAST_ACTIVE,
            subject=text("subject") or None,
        )
        try:
            made = await asyncio.to_thread(create_campaign, console.db, spec)
        except RapportError as exc:
            return refused(request, staff, exc)
        return RedirectResponse(f"/console/campaigns/{made.id}", status_code=303)

    @router.get("/campaigns/{cid}")
    async def campaign(
        request: Request, cid: int, done: str | None = None, staff: Staff = manager
    ) -> Response:
        def read() -> dict[str, Any]:
            c = get_campaign(console.db, cid)
            sample = preview(console.db, staff.actor, c.segment_id, sample=SAMPLE).sample
            zone = console.settings.zone
            return {
                "c": c,
                "sample": sample,
                "runs": _runs(console, c.id),
                "channels": CHANNELS,
                "schedule": schedule_words(c, zone),
                "next_run": next_run(c, zone, console.clock()),
                "zone": zone.key,
                "local_at": c.run_at.astimezone(ZoneInfo(c.timezone)) if c.run_at else None,
                "done": EDIT_DONE.get(done or ""),
            }

        try:
            context = await asyncio.to_thread(read)
        except RapportError as exc:
            return refused(request, staff, exc)
        return console.page(request, staff, "campaign.html", context)

    @router.get("/campaigns/{cid}/preview")
    async def live_preview(
        request: Request, cid: int, customer: int | None = None, staff: Staff = manager
    ) -> Response:
        try:
            shown = await asyncio.to_thread(
                preview_text, console.db, console.settings, staff.actor, str(cid), customer
            )
        except RapportError as exc:
            shown = f"no preview: {exc}"
        return console.page(request, staff, "campaign_preview.html", {"text": shown})

    @router.post("/campaigns/{cid}/test")
    async def test(request: Request, cid: int, staff: Staff = manager) -> Response:
        form = await request.form()
        channel = str(form.get("channel", "email"))
        address = str(form.get("address", "")).strip()
        try:
            said = await send_test(
                console.db, console.settings, staff.actor, str(cid), channel, address,
                channels=console.channels,
            )  # fmt: skip
        except RapportError as exc:
            said = f"not sent: {exc}"
        return console.page(request, staff, "said.html", {"said": said})

    @router.post("/campaigns/{cid}/run")
    async def run(request: Request, cid: int, staff: Staff = manager) -> Response:
        try:
            summary = await asyncio.to_thread(
                start_run, console.db, cid, trigger="manual",
                channels=tuple(console.channels),
                frequency_cap=console.settings.frequency_cap_per_week,
                again=True,
            )  # fmt: skip
        except RapportError as exc:
            return refused(request, staff, exc)
        console.wake()
        return RedirectResponse(f"/console/campaigns/{cid}/runs/{summary.run_id}", status_code=303)

    @router.get("/campaigns/{cid}/runs/{run_id}")
    async def run_view(request: Request, cid: int, run_id: int, staff: Staff = manager) -> Response:
        return await progress(request, cid, run_id, "run.html", staff)

    @router.get("/campaigns/{cid}/runs/{run_id}/progress")
    async def run_progress_fragment(
        request: Request, cid: int, run_id: int, staff: Staff = manager
    ) -> Response:
        return await progress(request, cid, run_id, "run_progress.html", staff)

    async def progress(
        request: Request, cid: int, run_id: int, name: str, staff: Staff
    ) -> Response:
        def read() -> dict[str, Any]:
            c = get_campaign(console.db, cid)
            status, reasons = run_progress(console.db, run_id)
            problems = send_problems(console.db, run_id)
            return {
                "c": c,
                "run_id": run_id,
                "status": status,
                "reasons": reasons,
                "problems": problems,
            }

        try:
            context = await asyncio.to_thread(read)
        except RapportError as exc:
            return refused(request, staff, exc)
        return console.page(request, staff, name, context)

    return router
