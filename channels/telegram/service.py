"""The Telegram service `rapport run` hosts: long polling, or a webhook by setting.

Acknowledge after commit. PTB's own `Updater` confirms updates to Telegram
(advances the getUpdates offset, or answers the webhook 200) before the
handlers have run, so a crash in between would lose a message. Here the
loop is ours: each update goes through `Application.process_update`, whose
handlers await `ingest`; only when that returned without error does the
offset move past the update (polling) or does the webhook answer 200.
A crash before that makes Telegram deliver the update again, and the
replay is a no-op by message key.

An update whose handler fails is held back and tried again with back-off,
so nothing is skipped silently. While the database is unreachable (or
locked) that goes on for as long as it takes; any other error (a bug) is
given `MAX_ATTEMPTS` tries, then the update is logged at ERROR (its id only)
and skipped, so one poisoned update cannot stop the channel forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseHandler, ContextTypes

from rapport.channels.telegram.client import build_bot
from rapport.channels.telegram.outbound import TelegramChannel
from rapport.crm.database import is_outage
from rapport.crm.errors import ConfigurationError
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

NAME = "telegram"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
POLL_TIMEOUT = 30
MAX_ATTEMPTS = 5
MAX_BACKOFF = 30.0
WEBHOOK_SECRET_MISSING = (
    "RAPPORT_TELEGRAM_WEBHOOK_SECRET is required when RAPPORT_TELEGRAM_WEBHOOK_URL is set"
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Handlers = Sequence[BaseHandler[Update, Any, Any]]


def build_application(
    settings: Settings,
    handlers: Handlers,
    *,
    bot: Bot | None = None,
    context_types: ContextTypes[Any, Any, Any, Any] | None = None,
    bot_data: object | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """A PTB application around `bot` (by default one built from the settings), no Updater.

    `context_types` and `bot_data` are what the handlers' `context` is and reads
    (the application's shared objects); PTB's defaults when not given.
    """
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = ApplicationBuilder()
    builder = builder.bot(bot or build_bot(settings)).updater(None)
    if context_types is not None:
        builder = builder.context_types(context_types)
    application = builder.build()
    if bot_data is not None:
        application.bot_data = bot_data
    application.add_handlers(list(handlers))
    return application


class TelegramService:
    """Receives updates (polling or webhook) and exposes the outbound `channel`."""

    name = NAME

    def __init__(
        self,
        settings: Settings,
        handlers: Handlers,
        *,
        bot: Bot | None = None,
        context_types: ContextTypes[Any, Any, Any, Any] | None = None,
        bot_data: object | None = None,
        poll_timeout: float = POLL_TIMEOUT,
        retry_delay: float = 1.0,
    ) -> None:
        self.settings = settings
        self.application = build_application(
            settings, handlers, bot=bot, context_types=context_types, bot_data=bot_data
        )
        self.application.add_error_handler(self._on_error)
        self.channel = TelegramChannel(self.application.bot)
        self.poll_timeout = poll_timeout
        self.retry_delay = retry_delay
        self.webhook_port: int | None = None
        self._failures: dict[int, BaseException] = {}
        self._attempts: dict[int, int] = {}
        self._offset: int | None = None
        self._confirmed: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._one_at_a_time = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        await self.application.initialize()
        await self.application.start()
        bot = self.application.bot
        if self.settings.telegram_webhook_url:
            await self._start_webhook()
            log.info("telegram: webhook mode as @%s", bot.username)
        else:
            # getUpdates is refused while a webhook is set (a left-over from webhook mode).
            await bot.delete_webhook(drop_pending_updates=False)
            self._task = asyncio.create_task(self._poll_forever(), name="telegram-polling")
            log.info("telegram: long polling as @%s", bot.username)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            if not self._busy:  # waiting on Telegram or backing off: nothing to finish
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=30)
            await self._confirm_processed()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    # -- one update ------------------------------------------------------------------

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(update, Update) and error is not None:
            self._failures[update.update_id] = error
            log.error("telegram update %d failed: %s", update.update_id, type(error).__name__)
            # The traceback may quote SQL parameters (message text): DEBUG only.
            log.debug("telegram update %d failed", update.update_id, exc_info=error)
        else:
            log.error("telegram error outside an update: %s", type(error).__name__)

    async def handle(self, update: Update) -> bool:
        """Process one update; True when it may be acknowledged (stored, or given up on)."""
        async with self._one_at_a_time:
            await self.application.process_update(update)
        error = self._failures.pop(update.update_id, None)
        if error is None:
            self._attempts.pop(update.update_id, None)
            return True
        if _is_outage(error):
            return False  # the database is away: wait for it, however long, skip nothing
        attempts = self._attempts.get(update.update_id, 0) + 1
        self._attempts[update.update_id] = attempts
        if attempts >= MAX_ATTEMPTS:
            log.error("telegram update %d failed %d times; skipping it", update.update_id, attempts)
            self._attempts.pop(update.update_id, None)
            return True
        return False

    # -- long polling -----------------------------------------------------------------

    async def _poll_forever(self) -> None:
        bot = self.application.bot
        delay = self.retry_delay
        while not self._stopping:
            try:
                updates = await bot.get_updates(
                    offset=self._offset,
                    timeout=self.poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
            except InvalidToken:
                log.error("telegram: the bot token was refused; polling stops")
                return
            except TelegramError as exc:
                log.warning("telegram: getUpdates failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            self._confirmed = self._offset
            self._busy = True
            try:
                handled = await self._process_batch(updates)
            finally:
                self._busy = False
            if handled:
                delay = self.retry_delay
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    async def _process_batch(self, updates: Sequence[Update]) -> bool:
        """Handle updates in order; the offset moves only past handled ones."""
        for update in updates:
            if self._stopping:
                return True
            if not await self.handle(update):
                return False
            self._offset = update.update_id + 1
        return True

    async def _confirm_processed(self) -> None:
        """Tell Telegram what we stored since the last poll (PTB's Updater does the same)."""
        if self._offset is None or self._offset == self._confirmed:
            return
        with contextlib.suppress(TelegramError):
            await self.application.bot.get_updates(offset=self._offset, limit=1, timeout=0)
            self._confirmed = self._offset

    # -- webhook ------------------------------------------------------------------------

    async def _start_webhook(self) -> None:
        secret = self.settings.telegram_webhook_secret
        url = self.settings.telegram_webhook_url
        assert url is not None
        if secret is None:
            raise ConfigurationError(WEBHOOK_SECRET_MISSING)
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(urlsplit(url).path or "/", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.settings.telegram_webhook_host, self.settings.telegram_webhook_port
        )
        await site.start()
        self.webhook_port = self._runner.addresses[0][1]
        await self.application.bot.set_webhook(
            url=url,
            secret_token=secret.get_secret_value(),
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def _webhook(self, request: web.Request) -> web.Response:
        """200 only after the update is stored; anything else makes Telegram resend it."""
        secret = self.settings.telegram_webhook_secret
        assert secret is not None
        # Any bytes may arrive in the header (aiohttp hands undecodable ones over as
        # surrogates): encoded leniently, a wrong secret of any kind is a 403, never a 500.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "backslashreplace")
        if not hmac.compare_digest(given, secret.get_secret_value().encode()):
            log.warning("telegram webhook: request without the right secret refused")
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except Exception:
            return web.Response(status=400, text="not a Telegram update")
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        if await self.handle(update):
            return web.Response(status=200)
        return web.Response(status=500, text="not stored; send it again")


def _is_outage(error: BaseException) -> bool:
    """Errors of the database or network that go away by themselves."""
    return is_outage(error) or isinstance(error, OSError)
