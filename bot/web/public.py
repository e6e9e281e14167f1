"""One-click unsubscribe (RFC 8058): `GET /u/<token>` asks, `POST /u/<token>` withdraws.

`GET` shows a confirmation page with a button and changes nothing (mail
scanners open links); `POST` with the form body `List-Unsubscribe=One-Click`
— what mail clients send for RFC 8058, and what the page's button sends —
withdraws marketing consent on that channel. The tokens and the change
itself are `rapport.crm.privacy.unsubscribe`'s; this is the edge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from rapport.bot.web.pages import page
from rapport.crm.database import Database
from rapport.crm.privacy.unsubscribe import (
    TEST_TOKEN,
    Grant,
    TokenExpired,
    TokenRefused,
    UnsubscribeLinks,
)

ONE_CLICK = ("List-Unsubscribe", "One-Click")
_CHANNEL_WORDS = {"email": "by email", "telegram": "on Telegram"}


def _where(grant: Grant) -> str:
    return _CHANNEL_WORDS.get(grant.channel, f"on {grant.channel}")


def unsubscribe_router(db: Database, links: UnsubscribeLinks) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def refusal(request: Request, exc: TokenRefused) -> HTMLResponse:
        hint = " You can also reply STOP to any of our messages."
        status = 410 if isinstance(exc, TokenExpired) else 400
        return page(request, "Link not valid", f"{exc}.{hint}", status=status)

    def test_page(request: Request) -> HTMLResponse:
        return page(
            request,
            "Test message",
            "This link came in a test send: it unsubscribes nobody and changed nothing.",
        )

    async def usable(
        request: Request, token: str, use: Callable[[Database, str], Grant]
    ) -> Grant | HTMLResponse:
        """The token's grant (`use` is `check` or `redeem`), or the page that says why not.

        GET and POST answer a test send's token, a refused token and a used one
        alike; only what they do with a good one differs.
        """
        if token == TEST_TOKEN:
            return test_page(request)
        try:
            grant = await asyncio.to_thread(use, db, token)
        except TokenRefused as exc:
            return refusal(request, exc)
        if grant.already_used:
            return page(request, "Already unsubscribed", "This link has already been used.")
        return grant

    @router.get("/u/{token}")
    async def confirm(request: Request, token: str) -> HTMLResponse:
        grant = await usable(request, token, links.check)
        if isinstance(grant, HTMLResponse):
            return grant
        return page(
            request,
            "Unsubscribe?",
            f"Stop receiving offers and news from us {_where(grant)}? "
            "Replies to your own questions are not affected.",
            button=(ONE_CLICK[0], ONE_CLICK[1], "Unsubscribe"),
        )

    @router.post("/u/{token}")
    async def unsubscribe(request: Request, token: str) -> HTMLResponse:
        form = await request.form()
        if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
            return page(request, "Bad request", "Expected List-Unsubscribe=One-Click.", status=400)
        grant = await usable(request, token, links.redeem)
        if isinstance(grant, HTMLResponse):
            return grant
        return page(
            request,
            "Unsubscribed",
            f"You will no longer receive offers and news from us {_where(grant)}.",
        )

    return router
