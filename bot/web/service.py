"""The web server inside `rapport run`: uvicorn serving `build_web_app` in the app's loop.

uvicorn's own `serve()` would install signal handlers; `rapport run` owns
SIGINT/SIGTERM (rapport.bot.runner), so the service starts uvicorn's server
by its parts (`startup`, `main_loop`, `shutdown`) instead. `port` 0 binds an
ephemeral port (tests), read back after start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping

import uvicorn
from fastapi import APIRouter, FastAPI

from rapport.bot.api.deps import ApiDeps
from rapport.bot.api.router import install_api
from rapport.bot.console_links import console_url
from rapport.bot.web.app import build_web_app
from rapport.bot.web.console import Console
from rapport.bot.web.opt_in import OptInPages
from rapport.bot.web.telegram_hook import TelegramHook
from rapport.channels.lifecycle import Disabled
from rapport.crm.channel import Channel
from rapport.crm.database import Database
from rapport.crm.privacy.keys import local_url_warning
from rapport.crm.privacy.unsubscribe import UnsubscribeLinks, links_from_settings
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)


class WebService:
    """The HTTP application on one port; the console joins when `console` is given."""

    name = "web"

    def __init__(
        self,
        db: Database,
        links: UnsubscribeLinks,
        host: str,
        port: int,
        *,
        opt_in: OptInPages | None = None,
        console: Console | None = None,
        routers: tuple[APIRouter, ...] = (),
        api: ApiDeps | None = None,
    ) -> None:
        self.db = db
        self.links = links
        self.host = host
        self.port = port
        self.opt_in = opt_in
        self.console = console
        self.routers = routers
        self.api = api
        """The JSON API's dependencies: /api/v1, /api/openapi.json and /api/docs when given."""
        self.telegram: TelegramHook | None = None
        """Telegram's webhook, routed here in webhook mode (`use_telegram`)."""
        self._server: uvicorn.Server | None = None
        self._loop_task: asyncio.Task[None] | None = None

    def use_channels(self, channels: Mapping[str, Channel]) -> None:
        """The runner hands over the outbound channels once they exist (the subscribe page
        mails its confirmations, the console answers customers)."""
        if self.opt_in is not None:
            self.opt_in.sender = channels.get("email")
        if self.console is not None:
            self.console.use_channels(channels)
        if self.api is not None:
            self.api = dataclasses.replace(self.api, channels=tuple(channels))

    def use_dispatcher(self, wake: Callable[[], None], health: list[tuple[str, bool, str]]) -> None:
        """The running dispatcher's wake-up (campaign runs from the console) and the list
        of services the admin page shows (the composition root fills it in)."""
        if self.console is not None:
            self.console.wake = wake
            self.console.health = health
        if self.api is not None:
            self.api = dataclasses.replace(self.api, wake_dispatcher=wake)

    def use_webhooks(self, wake: Callable[[], None]) -> None:
        """The webhook sender's wake-up: a re-delivery from the admin page goes at once."""
        if self.console is not None:
            self.console.wake_webhooks = wake

    def use_telegram(self, hook: TelegramHook) -> None:
        """Serve Telegram's webhook on its path; before `start`, which builds the app.

        The web server starts before the Telegram service, so the route listens
        when the service tells Telegram its URL; until then it answers 503.
        """
        self.telegram = hook

    def app(self) -> FastAPI:
        app = build_web_app(
            self.db,
            self.links,
            opt_in=self.opt_in,
            console=self.console,
            routers=self.routers,
            telegram=self.telegram,
        )
        if self.api is not None:
            install_api(app, self.api)
        return app

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app(),
            host=self.host,
            port=self.port,
            lifespan="off",
            access_log=False,  # request lines carry tokens, which stand for a person
            log_config=None,
            server_header=False,
            limit_concurrency=200,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup()
        if server.should_exit:  # the port was taken: startup logged why
            raise OSError(f"the web server could not listen on {self.host}:{self.port}")
        self._server = server
        sockets = server.servers[0].sockets if server.servers else ()
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._loop_task = asyncio.create_task(server.main_loop(), name="web server")
        log.info("web endpoint listening on %s:%d", self.host, self.port)
        if self.console is not None:
            url = console_url(self.console.settings) or f"http://{self.host}:{self.port}/console/"
            # print, not only log: `rapport run` says where staff sign in whatever the log level
            print(f"Staff console: {url} (send /login to the bot for a sign-in link)", flush=True)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        await server.shutdown()


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
    console = Console(db, settings)
    return WebService(
        db,
        links,
        settings.web_host,
        settings.web_port,
        opt_in=opt_in,
        console=console,
        api=ApiDeps(db, settings),
    )
