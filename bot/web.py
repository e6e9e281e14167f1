"""Rapport's small public web endpoint: one-click unsubscribe (RFC 8058), and double opt-in.

`GET /u/<token>` shows a confirmation page with a button and changes
nothing (mail scanners open links); `POST /u/<token>` with the form body
`List-Unsubscribe=One-Click` — what mail clients send for RFC 8058, and what
the page's button sends — withdraws marketing consent on that channel.
The tokens and the change itself are `rapport.crm.privacy.unsubscribe`'s; this is the edge.
The subscribe and confirmation pages are `rapport.bot.web_opt_in`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiohttp import web

from rapport.bot import web_pages as pages
from rapport.bot.web_opt_in import OptInPages
from rapport.channels.lifecycle import Disabled
from rapport.crm.channel import Channel
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
_CHANNEL_WORDS = {"email": "by email", "telegram": "on Telegram"}


def _page(title: str, text: str, *, status: int = 200, button: bool = False) -> web.Response:
    form = pages.button(ONE_CLICK[0], ONE_CLICK[1], "Unsubscribe") if button else ""
    return pages.page(title, text, status=status, form=form)


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

    def __init__(
        self,
        db: Database,
        links: UnsubscribeLinks,
        host: str,
        port: int,
        *,
        opt_in: OptInPages | None = None,
    ) -> None:
        self.db = db
        self.links = links
        self.host = host
        self.port = port
        self.opt_in = opt_in
        self._runner: web.AppRunner | None = None

    def use_channels(self, channels: Mapping[str, Channel]) -> None:
        """The runner hands over the outbound channels once they exist (the subscribe page
        mails its confirmations)."""
        if self.opt_in is not None:
            self.opt_in.sender = channels.get("email")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024)
        app.router.add_get("/u/{token}", self._confirm)
        app.router.add_post("/u/{token}", self._unsubscribe)
        if self.opt_in is not None:
            self.opt_in.register(app)
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
    opt_in = OptInPages(db, settings)
    return WebService(db, links, settings.web_host, settings.web_port, opt_in=opt_in)
