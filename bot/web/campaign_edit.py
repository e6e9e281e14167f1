"""Campaigns: edit with a live preview, schedule, pause and resume.

The same crm calls as `rapport campaigns edit|pause|resume`: `update_campaign`
(checked as on create) and `set_status`. The edit form posts its unsaved
fields to the preview on every change (htmx) and the answer is
`preview_text` with that draft, the dispatcher's rendering for the chosen
customer on the draft's channel. A schedule is one of the CLI's forms: by
hand, once at a local time (`--at`, in the campaign's time zone) or a
five-field cron (`--cron`); the page shows the next run in the business's
time zone, as `rapport campaigns list` does. What the crm refuses to change
(kind, segment, survey: a different programme) stays as it is.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.requests import Request

from rapport.bot.campaign_preview import preview_text
from rapport.bot.schedule_text import parse_local_time
from rapport.bot.web.console import Console, Staff
from rapport.crm.campaigns.definitions import get_campaign, set_status, update_campaign
from rapport.crm.errors import InvalidInput, RapportError
from rapport.crm.models import CampaignStatus
from rapport.crm.staff.roles import Permission

DONE = {
    "saved": "Changes saved.",
    "scheduled": "Schedule saved.",
    "paused": "Paused: it fires no runs and its queued messages wait.",
    "active": "Resumed: it fires on schedule and sends again.",
}


def draft_of(form: FormData) -> dict[str, object]:
    """The edit form's fields as `update_campaign` changes (an empty subject is kept)."""
    draft: dict[str, object] = {"template": str(form.get("template", ""))}
    subject = str(form.get("subject", "")).strip()
    if subject:
        draft["subject"] = subject
    channel = str(form.get("channel", "")).strip()
    if channel:
        draft["channel"] = channel
    return draft


def schedule_of(form: FormData, zone: str) -> dict[str, object]:
    """The schedule form as changes: by hand, once at a local time, or a cron."""
    mode = str(form.get("mode", ""))
    timezone = str(form.get("timezone", "")).strip() or zone
    if mode == "hand":
        return {"schedule_cron": None, "run_at": None}
    if mode == "once":
        at = str(form.get("at", "")).strip()
        if not at:
            raise InvalidInput("give the date and time it should run")
        return {"run_at": parse_local_time(at, timezone), "schedule_cron": None,
                "timezone": timezone}  # fmt: skip
    if mode == "cron":
        cron = " ".join(str(form.get("cron", "")).split())
        if not cron:
            raise InvalidInput("give a five-field cron, e.g. 0 10 * * 1")
        return {"schedule_cron": cron, "run_at": None, "timezone": timezone}
    raise InvalidInput("choose by hand, once or repeating")


def campaign_edit_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    manager = Depends(console.staff(Permission.RUN_CAMPAIGNS))

    def refused(request: Request, staff: Staff, exc: RapportError) -> Response:
        return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)

    def back(cid: int, done: str) -> Response:
        return RedirectResponse(f"/console/campaigns/{cid}?done={done}", status_code=303)

    @router.post("/campaigns/{cid}/preview")
    async def draft_preview(request: Request, cid: int, staff: Staff = manager) -> Response:
        form = await request.form()
        customer = str(form.get("customer", "")).strip()
        try:
            shown = await asyncio.to_thread(
                preview_text, console.db, console.settings, staff.actor, str(cid),
                int(customer) if customer.isdigit() else None, draft=draft_of(form),
            )  # fmt: skip
        except RapportError as exc:
            shown = f"no preview: {exc}"
        return console.page(request, staff, "campaign_preview.html", {"text": shown})

    @router.post("/campaigns/{cid}/edit")
    async def edit(request: Request, cid: int, staff: Staff = manager) -> Response:
        form = await request.form()
        try:
            await asyncio.to_thread(update_campaign, console.db, cid, **draft_of(form))
        except RapportError as exc:
            return refused(request, staff, exc)
        return back(cid, "saved")

    @router.post("/campaigns/{cid}/schedule")
    async def schedule(request: Request, cid: int, staff: Staff = manager) -> Response:
        form = await request.form()

        def save() -> None:
            zone = get_campaign(console.db, cid).timezone
            update_campaign(console.db, cid, **schedule_of(form, zone))

        try:
            await asyncio.to_thread(save)
        except RapportError as exc:
            return refused(request, staff, exc)
        return back(cid, "scheduled")

    @router.post("/campaigns/{cid}/pause")
    async def pause(request: Request, cid: int, staff: Staff = manager) -> Response:
        return await status(request, cid, CampaignStatus.PAUSED, staff)

    @router.post("/campaigns/{cid}/resume")
    async def resume(request: Request, cid: int, staff: Staff = manager) -> Response:
        return await status(request, cid, CampaignStatus.ACTIVE, staff)

    async def status(request: Request, cid: int, to: CampaignStatus, staff: Staff) -> Response:
        try:
            await asyncio.to_thread(set_status, console.db, cid, to)
        except RapportError as exc:
            return refused(request, staff, exc)
        return back(cid, str(to))

    return router
