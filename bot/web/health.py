"""Admin: which services and workers are live, and why the others are off.

Two tables. The tasks are the `task_health` rows every process writes
(rapport.channels.supervision), through the listing `rapport health` prints
(rapport.bot.present.health): live or not, last beat, why not. The services
are what this `rapport run` started, or the reason each stayed off
(`Console.health`, filled in by the composition root), e.g.
"RAPPORT_TELEGRAM_TOKEN is not set".
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from rapport.bot.present.health import health_listing
from rapport.bot.present.listing import Style
from rapport.bot.web.console import Console, Staff
from rapport.crm.operations.dead_letters import DEAD, RETRYING, count_by_state
from rapport.crm.operations.health import task_states
from rapport.crm.staff.roles import Permission


def health_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/console/admin", include_in_schema=False)
    admin = Depends(console.staff(Permission.MANAGE_STAFF))

    @router.get("/health")
    async def health(request: Request, staff: Staff = admin) -> Response:
        tasks = await asyncio.to_thread(task_states, console.db)
        letters = await asyncio.to_thread(count_by_state, console.db)
        settings = console.settings
        listing = health_listing(tasks, console.clock(), settings.zone)
        style = Style(zone=settings.zone, currency=settings.currency)
        return console.page(
            request, staff, "health.html",
            {"columns": listing.columns, "cells": listing.cells(style), "notes": listing.notes,
             "services": console.health, "dead": letters.get(DEAD, 0),
             "retrying": letters.get(RETRYING, 0)},
        )  # fmt: skip

    return router
