"""`rapport run` and `rapport worker`: open the database, start services, stop on a signal.

Start order: channels first (so their outbound sides exist), then the
dispatcher that sends through them, then the scheduler that wakes it; stop
order is the reverse, so nothing is sent through a channel already closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Any

from rapport.bot.dispatch_service import DispatchService
from rapport.bot.scheduler import Runtime, SchedulerService
from rapport.bot.services import (
    channel_factories,
    close_channels,
    outbound_channels,
    sender_factories,
)
from rapport.bot.web import web_factory
from rapport.bot.workers import WorkerPool, watch_parent
from rapport.channels.lifecycle import Disabled, Service, ServiceFactory
from rapport.crm.channel import Channel
from rapport.crm.database import Database
from rapport.crm.errors import ConfigurationError
from rapport.crm.settings import Settings
from rapport.migrations.schema import open_database

log = logging.getLogger(__name__)


def _senders(started: Sequence[Service]) -> dict[str, Channel]:
    """Outbound channels exposed by running services (Telegram shares its rate limiter)."""
    found: dict[str, Channel] = {}
    for service in started:
        channel = getattr(service, "channel", None)
        if isinstance(channel, Channel):
            found[channel.name] = channel
    return found


def _for_campaigns(channels: dict[str, Channel]) -> dict[str, Channel]:
    """The dispatcher's view of the channels: a channel that can, gives way to replies.

    On Telegram the bot's replies and the campaigns share one rate limit; a
    reply waits for the update it answers, so campaign sends let it go first.
    """
    found: dict[str, Channel] = {}
    for name, channel in channels.items():
        variant = getattr(channel, "for_campaigns", None)
        found[name] = variant() if callable(variant) else channel
    return found


def _tell_bots(started: Sequence[Service], channels: dict[str, Channel], wake: Any) -> None:
    """Let bot handlers queue on the channels we have, wake the sender, and send directly.

    Direct sends (`SENDERS_KEY`) are for one-off answers a handler owes a customer on
    another channel than the one it runs on (an email code from a Telegram dialog,
    a staff reply to an email conversation); campaigns always go through the outbox.
    """
    from rapport.bot.staff.kit import CHANNELS_KEY, SENDERS_KEY, WAKE_KEY

    for service in started:
        application = getattr(service, "application", None)
        bot_data = getattr(application, "bot_data", None)
        if isinstance(bot_data, dict):
            bot_data[CHANNELS_KEY] = tuple(channels)
            bot_data[WAKE_KEY] = wake
            bot_data[SENDERS_KEY] = dict(channels)


def _desk_service(
    started: Sequence[Service], settings: Settings, db: Database, channels: dict[str, Channel]
) -> Service | None:
    """The conversations desk (announcements, reminders, email first answers), beside the bot."""
    from rapport.bot.staff.desk_round import DeskService

    for service in started:
        application = getattr(service, "application", None)
        if application is not None and getattr(service, "channel", None) is not None:
            return DeskService(application.bot, db, settings, channels)
    return None


async def run(
    settings: Settings,
    *,
    factories: Sequence[ServiceFactory] | None = None,
    stop: asyncio.Event | None = None,
    worker: bool = False,
    workers: int = 0,
    parent_fd: int | None = None,
) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives; services stop in reverse order.

    A worker runs the dispatcher and outbound channels only: no scheduler, no inbound.
    `workers` > 0 makes the app also supervise that many worker processes (PostgreSQL
    only); `parent_fd` is a worker's lifeline to the app that started it.
    """
    if workers and not settings.database_url.startswith("postgresql"):
        raise ConfigurationError(
            "--workers needs PostgreSQL (RAPPORT_DATABASE_URL=postgresql://…): "
            "on SQLite the dispatcher inside `rapport run` is the only one"
        )
    db = open_database(settings.database_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    if parent_fd is not None:
        watch_parent(parent_fd, loop, stop)

    started: list[Service] = []
    owned: dict[str, Channel] = {}

    async def start(service: Service) -> None:
        await service.start()
        started.append(service)
        log.info("%s: on", service.name)

    try:
        if factories is None:
            factories = sender_factories() if worker else channel_factories()
        if not worker:  # the unsubscribe endpoint belongs to the app, whatever its channels
            factories = [web_factory, *factories]
        for factory in factories:
            service = factory(settings, db)
            if isinstance(service, Disabled):
                log.info("%s: off (%s)", service.name, service.reason)
                continue
            await start(service)
        owned = outbound_channels(settings)
        channels = {**owned, **_senders(started)}
        for name in ("email", "telegram"):
            if name not in channels:
                log.info("sending by %s: off (not configured)", name)
        dispatcher = DispatchService(
            settings,
            db,
            _for_campaigns(channels),
            recover_all_at_start=db.dialect == "sqlite",
            # A worker sends only on the channels it has; the app fails what none can send.
            claim_only=frozenset(channels) if worker else None,
        )
        await start(dispatcher)
        _tell_bots(started, channels, dispatcher.wake)
        for service in started:  # the web server mails opt-in confirmations
            use_channels = getattr(service, "use_channels", None)
            if callable(use_channels):
                use_channels(channels)
        if not worker:
            desk = _desk_service(started, settings, db, channels)
            if desk is not None:
                await start(desk)
            runtime = Runtime(
                db=db,
                channels=tuple(channels),
                frequency_cap=settings.frequency_cap_per_week,
                wake_dispatcher=dispatcher.wake,
            )
            await start(SchedulerService(settings, db, runtime))
            if workers:
                await start(WorkerPool(workers))
        role = "worker" if worker else "Rapport"
        log.info("%s is running with %d service(s); Ctrl-C stops it", role, len(started))
        await stop.wait()
        log.info("stopping")
    finally:
        for service in reversed(started):
            try:
                await service.stop()
            except Exception:
                log.exception("%s did not stop cleanly", service.name)
        await close_channels(owned)
        db.dispose()
        log.info("stopped")
