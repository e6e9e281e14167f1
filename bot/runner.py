"""`rapport run` and `rapport worker`: build the app, start it, stop it on a signal.

What runs and in which order is the composition root's (rapport.bot.app);
this module only ties the app's lifetime to the process: SIGINT/SIGTERM, or
for a worker the end of its lifeline to the app that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from rapport.bot.app import INBOUND_MAIL, build_app
from rapport.bot.workers import watch_parent
from rapport.channels.lifecycle import ServiceFactory
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)


async def run(
    settings: Settings,
    *,
    inbound: Sequence[ServiceFactory] = INBOUND_MAIL,
    stop: asyncio.Event | None = None,
    worker: bool = False,
    workers: int = 0,
    parent_fd: int | None = None,
) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives; services stop in reverse order.

    A supervised task that keeps failing also stops the app, which then raises
    `TaskGaveUp` (the CLI exits non-zero, so the service manager restarts it).

    `parent_fd` is a worker's lifeline to the app that started it; the other
    arguments are `rapport.bot.app.build_app`'s.
    """
    app = build_app(settings, worker=worker, workers=workers, inbound=inbound)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    if parent_fd is not None:
        watch_parent(parent_fd, loop, stop)
    try:
        await app.start()
        stopped = asyncio.create_task(stop.wait())
        failed = asyncio.create_task(app.supervisor.failed.wait())
        await asyncio.wait((stopped, failed), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed.cancel()
        log.info("stopping")
    finally:
        await app.stop()
    if app.supervisor.failed.is_set():
        raise app.supervisor.error()
