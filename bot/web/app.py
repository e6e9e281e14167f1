"""The application factory: one FastAPI app for the public pages, the console and the API.

`build_web_app` is what `WebService` serves and what tests drive directly.
Every response carries the security headers (rapport.bot.web.pages); request
bodies over `MAX_BODY` are refused before they are read; there is no access
log, because request lines carry tokens that stand for a customer or a
staff member. The JSON API (`rapport.bot.api`, its own engineer's) joins as
one more router through `routers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rapport.bot.web.admin import admin_router
from rapport.bot.web.campaign_edit import campaign_edit_router
from rapport.bot.web.campaigns import campaigns_router
from rapport.bot.web.console import Console, Refused, refused_response
from rapport.bot.web.customer import customer_router
from rapport.bot.web.customer_actions import customer_actions_router
from rapport.bot.web.health import health_router
from rapport.bot.web.inbox import inbox_router
from rapport.bot.web.opt_in import OptInPages
from rapport.bot.web.pages import SECURITY_HEADERS, STATIC
from rapport.bot.web.public import unsubscribe_router
from rapport.bot.web.report_pages import report_pages_router
from rapport.bot.web.reports import reports_router
from rapport.bot.web.segments import segments_router
from rapport.bot.web.signin import signin_router
from rapport.bot.web.telegram_hook import MAX_UPDATE, TelegramHook, telegram_router
from rapport.bot.web.webhooks import webhooks_router
from rapport.crm.database import Database
from rapport.crm.privacy.unsubscribe import UnsubscribeLinks

MAX_BODY = 64 * 1024
"""Largest request body: a campaign template and its form fit; nothing else needs more."""
API_MAX_BODY = 2 * 1024 * 1024
"""A batch of orders (up to 1,000) is bigger than any form a page posts."""


class Guard:
    """ASGI middleware: refuse oversized bodies, answer HEAD, add the security headers."""

    def __init__(self, app: ASGIApp, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.larger = dict(larger or {})
        """Exact paths allowed another body limit than MAX_BODY (Telegram's webhook)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.larger.get(path, API_MAX_BODY if path.startswith("/api/") else MAX_BODY)
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                too_big = PlainTextResponse("request too large", status_code=413)
                await too_big(scope, receive, send)
                return

        head = scope["method"] == "HEAD"
        if head:  # every page answers HEAD as its GET, without the body
            scope = {**scope, "method": "GET"}

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, with_headers)


def console_routers(console: Console) -> list[APIRouter]:
    """The console's areas, in the order of its menu."""
    return [
        signin_router(console),
        inbox_router(console),
        customer_router(console),
        customer_actions_router(console),
        campaigns_router(console),
        campaign_edit_router(console),
        segments_router(console),
        reports_router(console),
        report_pages_router(console),
        admin_router(console),
        webhooks_router(console),
        health_router(console),
    ]


def build_web_app(
    db: Database,
    links: UnsubscribeLinks,
    *,
    opt_in: OptInPages | None = None,
    console: Console | None = None,
    routers: Sequence[APIRouter] = (),
    telegram: TelegramHook | None = None,
) -> FastAPI:
    """The HTTP application: Telegram's webhook, unsubscribe, opt-in and the console (each
    if given), static files, then `routers` (the API's) in order."""
    app = FastAPI(
        title="Rapport",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    hook_path = telegram.webhook_path if telegram is not None else None
    app.add_middleware(Guard, larger={hook_path: MAX_UPDATE} if hook_path else None)
    if telegram is not None and hook_path is not None:  # first: its path wins
        app.include_router(telegram_router(telegram, hook_path))
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(unsubscribe_router(db, links))
    if opt_in is not None:
        app.include_router(opt_in.router())
    if console is not None:
        for router in console_routers(console):
            app.include_router(router)

        async def refused(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, Refused)
            return refused_response(request, exc)

        app.add_exception_handler(Refused, refused)
    for router in routers:
        app.include_router(router)
    return app
