"""Segments: the saved ones with their counts, and a rule builder with a live count.

The builder's rows are conditions over the same fields and operators as the
CLI's JSON rules (rapport.crm.segments.rules.FIELDS), combined with all/any;
each change posts the form (htmx) and the answer is the count and a preview
of matching customers (`preview_rule`, audited like `rapport segments
preview`). Saving stores the same JSON `rapport segments create --rule` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.requests import Request

from rapport.bot.web.console import Console, Staff
from rapport.crm.errors import RapportError
from rapport.crm.segments.rules import FIELDS, Rule, describe, parse_rule
from rapport.crm.segments.saved import count_members, create_segment, list_segments, preview_rule
from rapport.crm.staff.roles import Permission

ROWS = 5
SAMPLE = 10


def _value(text: str) -> str | int | float | bool:
    """A form's text as the JSON value a rule would hold."""
    clean = text.strip()
    if clean.lower() in ("true", "yes"):
        return True
    if clean.lower() in ("false", "no"):
        return False
    for kind in (int, float):
        try:
            return kind(clean)
        except ValueError:
            pass
    return clean


def rule_from_form(form: FormData) -> Rule:
    """The builder's rows as a rule; InvalidRule says what is wrong, in the CLI's words."""
    parts = []
    for n in range(ROWS):
        field = str(form.get(f"field{n}", "")).strip()
        if not field:
            continue
        parts.append(
            {
                "field": field,
                "op": str(form.get(f"op{n}", "")).strip(),
                "value": _value(str(form.get(f"value{n}", ""))),
            }
        )
    combine = "any" if form.get("combine") == "any" else "all"
    return parse_rule({combine: parts})


def segments_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    builder = Depends(console.staff(Permission.RUN_CAMPAIGNS))

    def fields() -> dict[str, tuple[str, ...]]:
        return {name: f.ops for name, f in sorted(FIELDS.items())}

    @router.get("/segments")
    async def segments(request: Request, staff: Staff = builder) -> Response:
        def read() -> list[tuple[Any, int, str]]:
            found = list_segments(console.db)
            now = console.clock()
            return [
                (s, count_members(console.db, s.id, now=now), describe(parse_rule(s.rule)))
                for s in found
            ]

        saved = await asyncio.to_thread(read)
        return console.page(
            request, staff, "segments.html", {"saved": saved, "fields": fields(), "rows": ROWS}
        )

    @router.post("/segments/preview")
    async def live(request: Request, staff: Staff = builder) -> Response:
        form = await request.form()
        try:
            rule = rule_from_form(form)
            shown = await asyncio.to_thread(
                preview_rule, console.db, staff.actor, rule, SAMPLE, console.clock()
            )
        except RapportError as exc:
            return console.page(request, staff, "segment_preview.html", {"error": str(exc)})
        return console.page(
            request, staff, "segment_preview.html", {"p": shown, "words": describe(rule)}
        )

    @router.post("/segments")
    async def save(request: Request, staff: Staff = builder) -> Response:
        form = await request.form()
        try:
            rule = rule_from_form(form)
            name = str(form.get("name", ""))
            await asyncio.to_thread(create_segment, console.db, name, rule)
        except RapportError as exc:
            return console.page(
                request, staff, "refused.html", {"message": f"not saved: {exc}"}, status=400
            )
        return RedirectResponse("/console/segments", status_code=303)

    return router
