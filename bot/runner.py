"""`rapport run`: open the database, start every enabled service, stop on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from bot.services import Disabled, Service, ServiceFactory, registered_factories
from crm.database import open_database
from crm.settings import Settings

log = logging.getLogger(__name__)


async def run(
    settings: Settings,
    *,
    factories: Sequence[ServiceFactory] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives; services stop in reverse order."""
    db = open_database(settings.database_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)

    started: list[Service] = []
    try:
        for factory in factories if factories is not None else registered_factories():
            service = factory(settings, db)
            if isinstance(service, Disabled):
                log.info("%s: off (%s)", service.name, service.reason)
                continue
            await service.start()
            started.append(service)
            log.info("%s: on", service.name)
        log.info("Rapport is running with %d service(s); Ctrl-C stops it", len(started))
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
