"""The Telegram service `rapport run` hosts: long polling, or a webhook by setting.

Acknowledge after commit. PTB's own `Updater` confirms updates to Telegram
(advances the getUpdates offset, or answers the webhook 200) before the
handlers have run, so a crash in between would lose a message. Here the
loop is ours: each update goes through `Application.process_update`, whose
handlers await `ingest`; only when that returned without error does the
offset move past the update (polling) or does the webhook answer 200.
A crash before that makes Telegram deliver the update again, and the
replay is a no-op by message key.

Chats are handled side by side, each in its own order
(rapport.channels.telegram.lanes): a slow chat, or one whose answer waits
out a 429, holds up only itself. The offset moves only to the lowest update
not yet finished, so "acknowledge after commit" holds with updates finishing
out of order; while updates are in hand the loop polls again every few tens
of milliseconds (without waiting) to take the newer ones.

Nothing blocks the updates behind a bad one. The raw JSON is fetched and
each update parsed on its own: one the library cannot parse is kept as a
dead letter at once (rapport.crm.operations.dead_letters) and acknowledged.
An update whose handler fails with a bug is stored as a dead letter that is
"retrying", acknowledged, and tried again in the background with back-off
(the `telegram-retries` task); after the last attempt it is "dead", for
staff to read with `rapport telegram failed`. Only while the database is
unreachable (or locked) is an update held back unacknowledged, for as long
as it takes: then nothing can be stored, the dead letter included.

The polling loop and the retries run under the process's `Supervisor`
(rapport.channels.supervision): an exception that escapes them is logged,
the task restarts with back-off, and one that keeps failing stops `rapport
run` with a non-zero exit rather than leaving it deaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hmac
import json
import logging
import time
from collections.abc import Hashable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseHandler, ContextTypes

from rapport.channels.supervision import GiveUp, Supervisor, cancel, describe
from rapport.channels.telegram.client import build_bot
from rapport.channels.telegram.lanes import ChatTurns, Lanes, chat_key
from rapport.channels.telegram.outbound import TelegramChannel
from rapport.crm.clock import Clock, utcnow
from rapport.crm.customers.identity import TELEGRAM
from rapport.crm.database import Database, is_outage
from rapport.crm.errors import ConfigurationError
from rapport.crm.operations import dead_letters
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

NAME = "telegram"
POLLING_TASK = "telegram-polling"
RETRY_TASK = "telegram-retries"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
POLL_TIMEOUT = 30
MAX_BACKOFF = 30.0
IDLE_BACKOFF = 5.0
"""Longest pause after empty answers that came back at once (a misbehaving proxy)."""
BUSY_POLL = 0.03
"""Seconds between polls while updates are in hand (so newer ones are taken at once)."""
BUSY_POLL_MAX = 0.25
"""Longest such pause, reached while nothing moves (a chat held back, an outage)."""
DRAIN_SECONDS = 30.0
"""How long `stop` lets the updates being handled finish."""
RETRY_IDLE = 30.0
"""Longest sleep of the retry task when nothing is due (a new failure wakes it)."""
WEBHOOK_SECRET_MISSING = (
    "RAPPORT_TELEGRAM_WEBHOOK_SECRET is required when RAPPORT_TELEGRAM_WEBHOOK_URL is set"
)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

Handlers = Sequence[BaseHandler[Update, Any, Any]]


class Outcome(enum.Enum):
    DONE = "done"
    """Stored (or deliberately ignored): acknowledge it."""
    HELD = "held"
    """The database is away: do not acknowledge; try again later."""
    PARKED = "parked"
    """Failed, kept as a dead letter (retrying or dead): acknowledge it."""


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


def update_kind(data: Mapping[str, Any]) -> str:
    """The field an update carries ("message", "callback_query", …)."""
    return next((k for k in data if k != "update_id"), "empty")[:40]


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
        db: Database | None = None,
        supervisor: Supervisor | None = None,
        poll_timeout: float = POLL_TIMEOUT,
        retry_delay: float = 1.0,
        max_attempts: int = dead_letters.MAX_ATTEMPTS,
        first_retry: timedelta = dead_letters.FIRST_RETRY,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.application = build_application(
            settings, handlers, bot=bot, context_types=context_types, bot_data=bot_data
        )
        self.application.add_error_handler(self._on_error)
        self.channel = TelegramChannel(self.application.bot)
        self.db = db
        self.supervisor = supervisor or Supervisor(db)
        self.poll_timeout = poll_timeout
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self.first_retry = first_retry
        self.clock = clock
        self._failures: dict[int, BaseException] = {}
        self._confirmed: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._retries: asyncio.Task[None] | None = None
        self._retry_wake = asyncio.Event()
        self._stopping = False
        self.lanes = Lanes(self._finished, retry_delay=retry_delay)
        self._turns = ChatTurns()
        """One update of a chat at a time, whichever path it came by (poll, retry, webhook)."""

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        await self.application.initialize()
        await self.application.start()
        bot = self.application.bot
        if self.db is not None:
            self._retries = self.supervisor.spawn(RETRY_TASK, self._retry_forever)
        if self.settings.telegram_webhook_url:
            await self._start_webhook()
            log.info("telegram: webhook mode as @%s", bot.username)
        else:
            # getUpdates is refused while a webhook is set (a left-over from webhook mode).
            await bot.delete_webhook(drop_pending_updates=False)
            self._task = self.supervisor.spawn(POLLING_TASK, self._poll_forever)
            log.info("telegram: long polling as @%s", bot.username)

    async def stop(self) -> None:
        self._stopping = True
        self._retry_wake.set()
        if self._task is not None:
            # The loop only fetches (the lanes handle): nothing of it to finish.
            await cancel(self._task)
            await self.lanes.drain(DRAIN_SECONDS)
            await self._confirm_processed()
        await cancel(self._retries)
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
        """Process one update; True when it may be acknowledged (stored, or parked)."""
        return await self.receive(update.to_dict(), update) is not Outcome.HELD

    async def _finished(self, data: Mapping[str, Any]) -> bool:
        return await self.receive(data) is not Outcome.HELD

    async def receive(self, data: Mapping[str, Any], update: Update | None = None) -> Outcome:
        """One update as Telegram sent it: parse, handle, and park it if that fails."""
        update_id = data.get("update_id")
        if not isinstance(update_id, int):
            log.error("telegram: an update without an update_id was dropped")
            return Outcome.DONE
        if update is None:
            try:
                update = Update.de_json(dict(data), self.application.bot)
            except Exception as exc:
                log.error("telegram update %d could not be parsed: %s", update_id,
                          type(exc).__name__)  # fmt: skip
                return await self._park(data, dead_letters.UNPARSEABLE, exc)
        error = await self._process(update, chat_key(data))
        if error is None:
            return Outcome.DONE
        if _is_outage(error):
            return Outcome.HELD  # the database is away: wait for it, however long
        return await self._park(data, update_kind(data), error)

    async def _process(self, update: Update, chat: Hashable) -> BaseException | None:
        async with self._turns.of(chat):
            await self.application.process_update(update)
        return self._failures.pop(update.update_id, None)

    async def _park(self, data: Mapping[str, Any], kind: str, error: BaseException) -> Outcome:
        """Keep a failed update as a dead letter; HELD if even that cannot be stored."""
        update_id = int(data["update_id"])
        if self.db is None:
            log.error("telegram update %d failed (%s) and there is no dead-letter table; "
                      "skipping it", update_id, type(error).__name__)  # fmt: skip
            return Outcome.PARKED
        try:
            letter = await asyncio.to_thread(
                dead_letters.record_failure,
                self.db,
                TELEGRAM,
                update_id,
                kind,
                describe(error),
                data,
                now=self.clock(),
                max_attempts=self.max_attempts,
                first_retry=self.first_retry,
            )
        except Exception as exc:
            log.warning("telegram update %d: could not keep it as a dead letter (%s)",
                        update_id, type(exc).__name__)  # fmt: skip
            return Outcome.HELD
        if letter.state == dead_letters.DEAD:
            log.error("telegram update %d is dead after %d attempt(s): see "
                      "`rapport telegram failed`", update_id, letter.attempts)  # fmt: skip
        else:
            self._retry_wake.set()
        return Outcome.PARKED

    # -- retries of parked updates -----------------------------------------------------

    async def _retry_forever(self) -> None:
        assert self.db is not None
        while not self._stopping:
            for data in await asyncio.to_thread(
                dead_letters.due_retries, self.db, TELEGRAM, self.clock()
            ):
                if self._stopping:
                    return
                outcome = await self.receive(data)
                if outcome is Outcome.DONE:
                    await asyncio.to_thread(
                        dead_letters.recovered, self.db, TELEGRAM, int(data["update_id"])
                    )
            due = await asyncio.to_thread(dead_letters.next_retry_at, self.db, TELEGRAM)
            pause = RETRY_IDLE
            if due is not None:
                pause = min(RETRY_IDLE, max(0.05, (due - self.clock()).total_seconds()))
            self._retry_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry_wake.wait(), pause)

    # -- long polling -----------------------------------------------------------------

    async def _get_updates(self, offset: int | None, timeout: float) -> list[dict[str, Any]]:
        """The raw updates of one getUpdates call: parsed one by one later, not all at once."""
        bot = self.application.bot
        data: dict[str, Any] = {
            "timeout": timeout,
            "offset": offset,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        # Bot.get_updates parses the whole batch at once (one bad update fails them all):
        # the raw JSON instead, through the same request object and rate limiter.
        result = await bot._post("getUpdates", data, read_timeout=timeout + 10)
        if not isinstance(result, list):
            raise TypeError(f"getUpdates answered {type(result).__name__}, not a list")
        return [u for u in result if isinstance(u, dict)]

    async def _poll_forever(self) -> None:
        """Fetch updates into the lanes; the offset confirms only the finished ones.

        With nothing in hand the poll waits (long polling). With updates in
        hand, Telegram answers at once (the unfinished ones are still there),
        so the loop pauses between polls: it polls again as soon as the offset
        can move on, else after `BUSY_POLL`, longer while nothing moves.
        """
        delay = self.retry_delay
        idle = self.retry_delay
        busy_pause = BUSY_POLL
        progress = self.lanes.progress
        while not self._stopping:
            busy = self.lanes.busy
            if busy and not progress.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(progress.wait(), busy_pause)
            moved = progress.is_set()
            progress.clear()
            offset = self.lanes.offset()
            timeout = 0 if busy else self.poll_timeout
            asked = time.monotonic()
            try:
                updates = await self._get_updates(offset, timeout)
            except InvalidToken as exc:
                log.error("telegram: the bot token was refused; polling stops")
                raise GiveUp("the bot token was refused") from exc
            except TelegramError as exc:
                log.warning("telegram: getUpdates failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            delay = self.retry_delay
            if offset is not None:
                self._confirmed = offset
            new = self.lanes.take(updates)
            busy_pause = BUSY_POLL if new or moved else min(busy_pause * 2, BUSY_POLL_MAX)
            if not updates and timeout > 0:
                if time.monotonic() - asked < min(1.0, self.poll_timeout / 2):
                    # An empty answer at once, though we asked to wait: never spin on it.
                    await asyncio.sleep(idle)
                    idle = min(idle * 2, IDLE_BACKOFF)
                continue
            idle = self.retry_delay

    async def _confirm_processed(self) -> None:
        """Tell Telegram what we stored since the last poll (PTB's Updater does the same)."""
        offset = self.lanes.offset()
        if offset is None or offset == self._confirmed:
            return
        with contextlib.suppress(TelegramError):
            await self.application.bot.get_updates(offset=offset, limit=1, timeout=0)
            self._confirmed = offset

    # -- webhook ------------------------------------------------------------------------

    @property
    def webhook_path(self) -> str | None:
        """The path Telegram posts to in webhook mode (None when polling).

        The channel serves no HTTP itself: the process's one web application
        routes POSTs on this path to `accept_webhook` (rapport.bot.web).
        """
        url = self.settings.telegram_webhook_url
        return (urlsplit(url).path or "/") if url else None

    async def _start_webhook(self) -> None:
        secret = self.settings.telegram_webhook_secret
        url = self.settings.telegram_webhook_url
        assert url is not None
        if secret is None:
            raise ConfigurationError(WEBHOOK_SECRET_MISSING)
        await self.application.bot.set_webhook(
            url=url,
            secret_token=secret.get_secret_value(),
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def accept_webhook(self, secret: str | None, body: bytes) -> int:
        """One webhook request: its secret header and body in, the HTTP status to answer out.

        200 once the update is stored or parked; 403 for any wrong secret; 400
        for a body that is no update; 500 or 503 make Telegram send it again
        (not stored, or the service not started yet or stopping).
        """
        expected = self.settings.telegram_webhook_secret
        # Any bytes may arrive in the header (the web server hands them over as latin-1
        # characters): encoded leniently, a wrong secret of any kind is a 403, never a 500.
        given = (secret or "").encode("utf-8", "backslashreplace")
        if expected is None or not hmac.compare_digest(given, expected.get_secret_value().encode()):
            log.warning("telegram webhook: request without the right secret refused")
            return 403
        if self._stopping or not self.application.running:
            return 503
        try:
            data = json.loads(body)
        except ValueError:
            return 400
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return 400
        try:
            outcome = await self.receive(data)
        except Exception as exc:  # a bug here must not make Telegram resend forever
            log.error("telegram webhook: %s", describe(exc))
            return 500
        return 500 if outcome is Outcome.HELD else 200


def _is_outage(error: BaseException) -> bool:
    """Errors of the database or network that go away by themselves."""
    return is_outage(error) or isinstance(error, OSError)
