"""Staff actions on one customer: consent with its source, merge, export, erase.

Each is the CLI command's own crm call with the signed-in member as the actor,
so the audit records are the CLI's: `staff_consent` ("consent.grant" /
"consent.withdraw", as `rapport consent grant|withdraw --source`),
`merge_customers` ("customer.merge", `rapport customers merge`),
`export_customer` ("privacy.export", the JSON `rapport privacy export`
writes) and `erase_customer` ("privacy.erase", `rapport privacy erase`).
Permissions are the one role policy's: consent is MANAGE_CONSENT, a merge
IMPORT (customer data upkeep, managers and admins), export and erasure
PRIVACY (admins). A merge needs a ticked confirmation and an erasure the
customer's id typed again, as the CLI needs `--yes` and the bot `confirm`:
both cannot be undone. A refusal or bad input changes nothing.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from rapport.bot.web.console import Console, Staff
from rapport.bot.web.pages import download
from rapport.crm.customers.merge import merge_customers
from rapport.crm.customers.profiles import customer_profile
from rapport.crm.errors import InvalidInput, NotFound, RapportError
from rapport.crm.privacy.consent import staff_consent
from rapport.crm.privacy.requests import erase_customer, export_customer
from rapport.crm.staff.roles import Permission

DONE = {
    "granted": "Consent recorded.",
    "withdrawn": "Withdrawal recorded.",
    "merged": "Customers merged: the other customer's history is now here.",
    "erased": "Customer erased.",
}
"""The fixed sentences a redirect after an action may show (`?done=`)."""


def export_json(data: object) -> bytes:
    """The document `rapport privacy export --out` writes, byte for byte."""
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def customer_actions_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    consent = Depends(console.staff(Permission.MANAGE_CONSENT))
    upkeep = Depends(console.staff(Permission.IMPORT))
    privacy = Depends(console.staff(Permission.PRIVACY))

    def refused(request: Request, staff: Staff, exc: RapportError) -> Response:
        status = 404 if isinstance(exc, NotFound) else 400
        return console.page(request, staff, "refused.html", {"message": str(exc)}, status=status)

    def back(customer_id: int, done: str) -> Response:
        return RedirectResponse(f"/console/customers/{customer_id}?done={done}", status_code=303)

    @router.post("/customers/{customer_id}/consent")
    async def record_consent(
        request: Request, customer_id: int, staff: Staff = consent
    ) -> Response:
        form = await request.form()
        change = str(form.get("change", ""))
        channel = str(form.get("channel", "email"))
        source = str(form.get("source", ""))
        try:
            if change not in ("grant", "withdraw"):
                raise InvalidInput("choose grant or withdraw")
            granted = change == "grant"
            await asyncio.to_thread(
                staff_consent, console.db, staff.actor, customer_id, channel,
                granted=granted, source=source,
            )  # fmt: skip
        except RapportError as exc:
            return refused(request, staff, exc)
        return back(customer_id, "granted" if granted else "withdrawn")

    @router.post("/customers/{customer_id}/merge")
    async def merge(request: Request, customer_id: int, staff: Staff = upkeep) -> Response:
        form = await request.form()
        try:
            absorb = str(form.get("absorb", "")).strip().lstrip("#")
            if not absorb.isdigit():
                raise InvalidInput("give the number of the customer to merge into this one")
            if form.get("confirm") != "yes":
                raise InvalidInput("a merge cannot be undone; tick the box to confirm")
            await asyncio.to_thread(
                merge_customers, console.db, customer_id, int(absorb), staff.actor
            )
        except RapportError as exc:
            return refused(request, staff, exc)
        return back(customer_id, "merged")

    @router.post("/customers/{customer_id}/export")
    async def export(request: Request, customer_id: int, staff: Staff = privacy) -> Response:
        try:
            data = await asyncio.to_thread(export_customer, console.db, staff.actor, customer_id)
        except RapportError as exc:
            return refused(request, staff, exc)
        return download(export_json(data), f"customer-{customer_id}.json", "application/json")

    @router.get("/customers/{customer_id}/erase")
    async def confirm_erase(request: Request, customer_id: int, staff: Staff = privacy) -> Response:
        try:
            profile = await asyncio.to_thread(
                customer_profile, console.db, staff.actor, customer_id, recent=0
            )
        except RapportError as exc:
            return refused(request, staff, exc)
        return console.page(request, staff, "erase.html", {"p": profile})

    @router.post("/customers/{customer_id}/erase")
    async def erase(request: Request, customer_id: int, staff: Staff = privacy) -> Response:
        form = await request.form()
        try:
            if str(form.get("confirm", "")).strip().lstrip("#") != str(customer_id):
                raise InvalidInput(
                    "erasing cannot be undone: type the customer's number "
                    f"({customer_id}) to confirm"
                )
            await asyncio.to_thread(erase_customer, console.db, staff.actor, customer_id)
        except RapportError as exc:
            return refused(request, staff, exc)
        return RedirectResponse("/console/customers?done=erased", status_code=303)

    return router
