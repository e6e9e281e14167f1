"""Rapport's small public web endpoint: one-click unsubscribe (RFC 8058).

`GET /u/<token>` shows a confirmation page with a button and changes
nothing (mail scanners open links); `POST /u/<token>` with the form body
`List-Unsubscribe=One-Click` — what mail clients send for RFC 8058, and what
the page's button sends — withdraws marketing consent on that channel.
The tokens and the change itself are `rapport.crm.privacy.unsubscribe`'s; this is the edge.
"""

from __future__ import annotations

import asyncio
import html
import logging

from aiohttp import web

from rapport.channels.lifecycle import Disabled
from rapport.crm.database import Database
from rapport.crm.privacy.keys import local_url_warning
from rapport.crm.privacy.unsubscribe import (
    TEST_TOKEN,
    Grant,
    TokenExpired,
    TokenRefused,
    UnsubscribeLinks,
    links_from_settings,
)
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

ONE_CLICK = ("List-Unsubscribe", "One-Click")
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Cache-Control": "no-store",
}
_CHANNEL_WORDS = {"email": "by email", "telegram": "on Telegram"}


def _page(title: str, text: str, *, status: int = 200, button: bool = False) -> web.Response:
    form = (
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
        if button
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32em;margin:3em auto">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    return web.Response(
        status=status, text=body, content_type="text/html", charset="utf-8", headers=_HEADERS
    )


def _refusal(exc: TokenRefused) -> web.Response:
    hint = " You can also reply STOP to any of our messages."
    status = 410 if isinstance(exc, TokenExpired) else 400
    return _page("Link not valid", f"{exc}.{hint}", status=status)


def _test_page() -> web.Response:
    return _page(
        "Test message", "This link came in a test send: it unsubscribes nobody and changed nothing."
    )


def _where(grant: Grant) -> str:
    return _CHANNEL_WORDS.get(grant.channel, f"on {grant.channel}")


class WebService:
    """An aiohttp server; `port` 0 binds an ephemeral port (tests), read back after start."""

    name = "web"

    def __init__(self, db: Database, links: UnsubscribeLinks, host: str, port: int) -> None:
        self.db = db
        self.links = links
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024)
        app.router.add_get("/u/{token}", self._confirm)
        app.router.add_post("/u/{token}", self._unsubscribe)
        return app

    async def start(self) -> None:
        # No access log: request lines carry tokens, which stand for a customer.
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        log.info("web endpoint listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _confirm(self, request: web.Request) -> web.Response:
        if request.match_info["token"] == TEST_TOKEN:
            return _test_page()
        try:
            grant = await asyncio.to_thread(self.links.check, self.db, request.match_info["token"])
        except TokenRefused as exc:
            return _refusal(exc)
        if grant.already_used:
            return _page("Already unsubscribed", "This link has already been used.")
        return _page(
            "Unsubscribe?",
            f"Stop receiving offers and news from us {_where(grant)}? "
            "Replies to your own questions are not affected.",
            button=True,
        )

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
            return _page("Bad request", "Expected List-Unsubscribe=One-Click.", status=400)
        if request.match_info["token"] == TEST_TOKEN:
            return _test_page()
        try:
            grant = await asyncio.to_thread(self.links.redeem, self.db, request.match_info["token"])
        except TokenRefused as exc:
            return _refusal(exc)
        if grant.already_used:
            return _page("Already unsubscribed", "This link has already been used.")
        return _page(
            "Unsubscribed",
            f"You will no longer receive offers and news from us {_where(grant)}.",
        )


def web_factory(settings: Settings, db: Database) -> WebService | Disabled:
    """The `rapport run` service factory: on unless RAPPORT_WEB_PORT is 0."""
    if settings.web_port == 0:
        return Disabled("web", "RAPPORT_WEB_PORT is 0")
    links, reason = links_from_settings(settings, db)
    assert links is not None, reason  # with the port set, links point here at least
    warning = local_url_warning(settings)
    if warning:
        log.warning("%s", warning)
    return WebService(db, links, settings.web_host, settings.web_port)
