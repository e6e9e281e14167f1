"""Admin: outgoing webhooks — the subscriptions, their recent deliveries, re-delivery.

The same queue `rapport webhooks list --deliveries` and `rapport webhooks
redeliver` read and change (rapport.crm.integrations.deliveries): a
re-delivery puts the delivery back in the durable outbox from its first
attempt, audited "webhook.redeliver" with the member as the actor, and the
webhook service (this process's or any worker's) sends the same event, same
id, signed again. Admins only: subscription URLs can carry a receiver's own
tokens. Nothing here shows a customer's data (payloads are not shown).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from rapport.bot.web.console import Console, Staff
from rapport.crm.errors import RapportError
from rapport.crm.integrations.deliveries import (
    DELIVERED,
    FAILED,
    PENDING,
    list_deliveries,
    redeliver,
)
from rapport.crm.integrations.subscriptions import list_subscriptions
from rapport.crm.staff.roles import Permission

DELIVERY_ROWS = 100
FILTERS = ("all", FAILED, PENDING, DELIVERED)


def webhooks_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console/admin", include_in_schema=False)
    admin = Depends(console.staff(Permission.MANAGE_STAFF))

    @router.get("/webhooks")
    async def webhooks(
        request: Request, status: str = "all", queued: int | None = None, staff: Staff = admin
    ) -> Response:
        chosen = None if status == "all" else status
        try:
            deliveries = await asyncio.to_thread(
                list_deliveries, console.db, status=chosen, limit=DELIVERY_ROWS
            )
        except RapportError as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)
        subscriptions = await asyncio.to_thread(list_subscriptions, console.db)
        return console.page(
            request, staff, "webhooks.html",
            {"subscriptions": subscriptions, "deliveries": deliveries, "status": status,
             "filters": FILTERS, "queued": queued},
        )  # fmt: skip

    async def queue_again(
        request: Request, staff: Staff, delivery_ids: tuple[int, ...], all_failed: bool
    ) -> Response:
        try:
            count = await asyncio.to_thread(
                redeliver, console.db, staff.actor, delivery_ids=delivery_ids,
                all_failed=all_failed, now=console.clock(),
            )  # fmt: skip
        except RapportError as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)
        console.wake_webhooks()  # this process's sender looks now, not at its next poll
        return RedirectResponse(f"/console/admin/webhooks?queued={count}", status_code=303)

    @router.post("/webhooks/deliveries/{delivery_id}/redeliver")
    async def redeliver_one(request: Request, delivery_id: int, staff: Staff = admin) -> Response:
        return await queue_again(request, staff, (delivery_id,), all_failed=False)

    @router.post("/webhooks/redeliver-failed")
    async def redeliver_failed(request: Request, staff: Staff = admin) -> Response:
        return await queue_again(request, staff, (), all_failed=True)

    return router
