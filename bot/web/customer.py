"""Customers: a search list and one customer's page.

The same permission as the bot's /customer (view customers), the same
audited reads (`list_customers` records "customers.list",
`customer_profile` records "customer.show"), plus the consent history,
value, points ledger, segments and deliveries (rapport.crm.customers.details).
The staff actions on a customer are rapport.bot.web.customer_actions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from rapport.bot.web.console import Console, Staff
from rapport.bot.web.customer_actions import DONE
from rapport.crm.customers.details import customer_details
from rapport.crm.customers.profiles import customer_profile, list_customers
from rapport.crm.errors import NotFound
from rapport.crm.segments.saved import segments_of
from rapport.crm.staff.roles import Permission
from rapport.crm.value.loyalty import parse_tiers, standing

TIMELINE = 50


def customer_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    view = Depends(console.staff(Permission.VIEW_CUSTOMERS))

    @router.get("/customers")
    async def customers(
        request: Request, q: str | None = None, done: str | None = None, staff: Staff = view
    ) -> HTMLResponse:
        found = await asyncio.to_thread(
            list_customers, console.db, staff.actor, search=(q or "").strip()[:100] or None
        )
        context = {"customers": found, "q": q or "", "done": DONE.get(done or "")}
        return console.page(request, staff, "customers.html", context)

    @router.get("/customers/{customer_id}")
    async def customer(
        request: Request, customer_id: int, done: str | None = None, staff: Staff = view
    ) -> HTMLResponse:
        def read() -> dict[str, Any]:
            profile = customer_profile(console.db, staff.actor, customer_id, recent=TIMELINE)
            tiers = parse_tiers(console.settings.loyalty_tiers)
            return {
                "p": profile,
                "d": customer_details(console.db, customer_id),
                "standing": standing(console.db, customer_id, tiers, now=console.clock()),
                "segments": segments_of(console.db, customer_id, now=console.clock()),
                "done": DONE.get(done or ""),
            }

        try:
            context = await asyncio.to_thread(read)
        except NotFound as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=404)
        return console.page(request, staff, "customer.html", context)

    return router
