"""`rapport run` and `rapport worker`: open the database, start services, stop on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from bot.dispatch_service import DispatchService
from bot.scheduler import Runtime, SchedulerService
from bot.services import Disabled, Service, ServiceFactory, channel_factories, outbound_channels
from bot.web import web_factory
from crm.database import Database, open_database
from crm.settings import Settings

log = logging.getLogger(__name__)


def _core_services(settings: Settings, db: Database, *, schedule: bool) -> list[Service]:
    channels = outbound_channels(settings)
    for name in ("email", "telegram"):
        if name not in channels:
            log.info("outbound %s: off (not configured)", name)
    dispatcher = DispatchService(
        settings, db, channels, recover_all_at_start=db.dialect == "sqlite"
    )
    services: list[Service] = []
    if schedule:
        runtime = Runtime(
            db=db,
            channels=tuple(channels),
            frequency_cap=settings.frequency_cap_per_week,
            wake_dispatcher=dispatcher.wake,
        )
        services.append(SchedulerService(settings, db, runtime))
    services.append(dispatcher)
    return services


async def run(
    settings: Settings,
    *,
    factories: Sequence[ServiceFactory] | None = None,
    stop: asyncio.Event | None = None,
    worker: bool = False,
) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives; services stop in reverse order.

    A worker runs only the dispatcher: no scheduler, no inbound channels.
    """
    db = open_database(settings.database_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)

    candidates: list[Service | ServiceFactory] = list(
        _core_services(settings, db, schedule=not worker)
    )
    if not worker:
        candidates.append(web_factory)
        candidates.extend(factories if factories is not None else channel_factories())
    started: list[Service] = []
    try:
        for candidate in candidates:
            service = candidate(settings, db) if callable(candidate) else candidate
            if isinstance(service, Disabled):
                log.info("%s: off (%s)", service.name, service.reason)
                continue
            await service.start()
            started.append(service)
            log.info("%s: on", service.name)
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
        db.dispose()
        log.info("stopped")
