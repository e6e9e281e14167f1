"""Admin: staff and roles, the audit trail (filterable), and the health of the services.

The staff list and role changes are `rapport staff`'s (`list_staff`,
`set_role`, audited "staff.change"); the audit trail is `audit_trail`, whose
reading is itself recorded. Webhooks (rapport.bot.web.webhooks) and health
(rapport.bot.web.health) have their own pages under /console/admin/.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from rapport.bot.web.console import Console, Staff
from rapport.crm.errors import RapportError
from rapport.crm.staff.roles import ROLE_PERMISSIONS, Permission, audit_trail, list_staff, set_role

AUDIT_ROWS = 200


def admin_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console", include_in_schema=False)
    admin = Depends(console.staff(Permission.MANAGE_STAFF))
    auditor = Depends(console.staff(Permission.VIEW_AUDIT))

    @router.get("/admin")
    async def overview(request: Request, staff: Staff = admin) -> Response:
        members = await asyncio.to_thread(list_staff, console.db)
        return console.page(
            request, staff, "admin.html",
            {"members": members, "roles": list(ROLE_PERMISSIONS)},
        )  # fmt: skip

    @router.post("/admin/staff/{staff_id}")
    async def change(request: Request, staff_id: int, staff: Staff = admin) -> Response:
        form = await request.form()
        role = str(form.get("role", "")) or None
        active = {"yes": True, "no": False}.get(str(form.get("active", "")))
        try:
            await asyncio.to_thread(
                set_role, console.db, staff.actor, staff_id, role, active=active
            )
        except RapportError as exc:
            return console.page(request, staff, "refused.html", {"message": str(exc)}, status=400)
        return RedirectResponse("/console/admin", status_code=303)

    @router.get("/admin/audit")
    async def audit(
        request: Request, customer: int | None = None, action: str | None = None,
        staff: Staff = auditor,
    ) -> Response:  # fmt: skip
        events = await asyncio.to_thread(
            audit_trail, console.db, staff.actor, limit=AUDIT_ROWS, customer_id=customer
        )
        if action:
            events = [e for e in events if e.action.startswith(action)]
        return console.page(
            request, staff, "audit.html",
            {"events": events, "customer": customer or "", "action": action or ""},
        )  # fmt: skip

    return router
