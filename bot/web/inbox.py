"""The inbox: unresolved conversations, one conversation's thread, and the desk's actions.

Every action is the bot's own: `take`, `send_reply` (on the customer's
channel through the running app's outbound channels, threaded for email),
`send_resolution` (a complaint's customer gets the CSAT question) and
`flag_complaint`, with the same permission (answer conversations) and the
same audit records. The list and the thread refresh themselves every few
seconds (htmx polling of the `…/rows` and `…/thread` fragments).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from rapport.bot.web.console import Console, Staff
from rapport.crm.desk.complaints import flag_complaint
from rapport.crm.desk.conversations import conversation_thread, take
from rapport.crm.desk.inbox import Show, inbox, parse_show
from rapport.crm.desk.replies import send_reply
from rapport.crm.desk.resolution import send_resolution
from rapport.crm.desk.rules import load_rules
from rapport.crm.errors import Conflict, InvalidInput, NotFound, RapportError
from rapport.crm.models import StaffRole
from rapport.crm.staff.roles import Permission

log = logging.getLogger(__name__)

THREAD = 100
PAGE = 50
"""Conversations on the inbox page: the longest waiting (what needs doing next)."""
DONE = {
    "taken": "The conversation is yours.",
    "sent": "Sent to the customer.",
    "resolved": "Resolved.",
    "resolved_csat": "Resolved; the customer was asked how it was handled (1–5).",
    "complaint": "Flagged as a complaint; its follow-up task is created.",
}


def _status(exc: RapportError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    return 400 if isinstance(exc, InvalidInput) else 502


def inbox_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    any_staff = Depends(console.staff(None))
    answer = Depends(console.staff(Permission.ANSWER))

    async def rows_context(staff: Staff, show: str | None) -> dict[str, Any]:
        chosen = parse_show(show)
        rows = await asyncio.to_thread(
            inbox, console.db, staff.actor, load_rules(console.settings),
            show=chosen, now=console.clock(), limit=PAGE,
        )  # fmt: skip
        return {"rows": rows, "show": chosen, "shows": list(Show), "now": console.clock()}

    @router.get("/")
    async def home(staff: Staff = any_staff) -> Response:
        return RedirectResponse("/console/inbox", status_code=303)

    @router.get("/inbox")
    async def inbox_page(
        request: Request, show: str | None = None, staff: Staff = answer
    ) -> Response:
        try:
            context = await rows_context(staff, show)
        except InvalidInput as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)
        return console.page(request, staff, "inbox.html", context)

    @router.get("/inbox/rows")
    async def inbox_rows(
        request: Request, show: str | None = None, staff: Staff = answer
    ) -> Response:
        try:
            context = await rows_context(staff, show)
        except InvalidInput as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)
        return console.page(request, staff, "inbox_rows.html", context)

    async def conversation(
        request: Request, staff: Staff, cid: int, name: str, **extra: Any
    ) -> HTMLResponse:
        status = extra.pop("status", 200)
        try:
            view, thread = await asyncio.to_thread(
                conversation_thread, console.db, staff.actor, cid, last=THREAD
            )
        except NotFound as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=404)
        context = {"c": view, "thread": thread, "now": console.clock(), **extra}
        return console.page(request, staff, name, context, status=status)

    @router.get("/conversations/{cid}")
    async def conversation_page(
        request: Request, cid: int, done: str | None = None, staff: Staff = answer
    ) -> HTMLResponse:
        return await conversation(
            request, staff, cid, "conversation.html", done=DONE.get(done or "")
        )

    @router.get("/conversations/{cid}/thread")
    async def thread_fragment(request: Request, cid: int, staff: Staff = answer) -> HTMLResponse:
        return await conversation(request, staff, cid, "thread.html")

    async def act(request: Request, staff: Staff, cid: int, what: str) -> Response:
        form = await request.form()
        try:
            done = await _do(console, staff, cid, what, form)
        except RapportError as exc:
            return await conversation(
                request, staff, cid, "conversation.html", error=str(exc),
                draft=str(form.get("text", "")), status=_status(exc),
            )  # fmt: skip
        return RedirectResponse(f"/console/conversations/{cid}?done={done}", status_code=303)

    @router.post("/conversations/{cid}/{what}")
    async def action(request: Request, cid: int, what: str, staff: Staff = answer) -> Response:
        if what not in ("take", "reply", "resolve", "complaint"):
            return console.page(
                request, staff, "refused.html", {"message": "no such action"}, status=404
            )
        return await act(request, staff, cid, what)

    return router


async def _do(console: Console, staff: Staff, cid: int, what: str, form: Any) -> str:
    actor = staff.actor
    if what == "take":
        force = form.get("force") == "yes"
        if force and staff.member.role == StaffRole.AGENT:
            raise InvalidInput("only managers and admins take over someone else's conversation")
        await asyncio.to_thread(take, console.db, actor, cid, force=force)
        return "taken"
    if what == "reply":
        await send_reply(console.db, actor, console.channels, cid, str(form.get("text", "")))
        log.info("staff %d answered conversation %d from the console", staff.member.id, cid)
        return "sent"
    if what == "resolve":
        result = await send_resolution(console.db, actor, console.channels, cid)
        return "resolved_csat" if result.survey_sent else "resolved"
    rules = load_rules(console.settings)
    await asyncio.to_thread(flag_complaint, console.db, actor, cid, rules)
    return "complaint"
