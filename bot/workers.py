"""`rapport run --workers N`: the app process supervises N `rapport worker` processes.

Workers are separate OS processes (not threads or tasks) because one Python
process uses one core, and a dispatcher's cost is CPU (rendering, SQLAlchemy)
as much as waiting. They are started after the app is up, so the schema is
already at head when they open the database, and stopped before it, so a
worker never outlives the scheduler that feeds it.

Supervision is deliberately small: a worker that exits on its own is started
again after a back-off that doubles up to a cap (and resets once a worker
has stayed up a while), so a worker that cannot start (a bad setting) costs a
log line every half minute, not a busy loop. Each worker holds the read end
of a pipe whose write end only this process has; if this process dies
without stopping them (SIGKILL), the pipe reads end-of-file and the workers
stop themselves instead of lingering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "rapport.bot", "worker")
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0
"""A worker that ran this long before exiting was healthy: restart it at once-ish."""


class WorkerPool:
    """A service for the runner: N worker subprocesses, restarted when they die."""

    name = "workers"

    def __init__(
        self,
        count: int,
        *,
        command: Sequence[str] = WORKER_COMMAND,
        stop_timeout: float = 60.0,
        max_backoff: float = MAX_BACKOFF_SECONDS,
    ) -> None:
        self.count = count
        self.command = tuple(command)
        self.stop_timeout = stop_timeout
        self.max_backoff = max_backoff
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._lifeline_read, self._lifeline_write = os.pipe()

    async def start(self) -> None:
        for slot in range(1, self.count + 1):
            await self._spawn(slot)
        self._tasks = [
            asyncio.create_task(self._supervise(slot), name=f"worker-{slot}")
            for slot in range(1, self.count + 1)
        ]

    async def _spawn(self, slot: int) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.command,
            "--parent-fd",
            str(self._lifeline_read),
            pass_fds=(self._lifeline_read,),
        )
        self.processes[slot] = process
        log.info("worker %d started (pid %d)", slot, process.pid)

    async def _supervise(self, slot: int) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            started = time.monotonic()
            code = await self.processes[slot].wait()
            if self._stopping:
                return
            if time.monotonic() - started >= STABLE_SECONDS:
                backoff = FIRST_BACKOFF_SECONDS
            log.warning("worker %d exited (code %s); restarting in %.0f s", slot, code, backoff)
            await asyncio.sleep(backoff)
            if self._stopping:
                return
            backoff = min(backoff * 2, self.max_backoff)
            self.restarts += 1
            await self._spawn(slot)

    async def stop(self) -> None:
        """SIGINT each worker (it finishes the message in hand), then wait; kill stragglers."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
        waits = [asyncio.create_task(p.wait()) for p in running]
        if waits:
            _, late = await asyncio.wait(waits, timeout=self.stop_timeout)
            for process in running:
                if process.returncode is None:
                    log.warning("worker pid %d did not stop in time; killing it", process.pid)
                    process.kill()
            if late:
                await asyncio.wait(late)
        for fd in (self._lifeline_read, self._lifeline_write):
            with contextlib.suppress(OSError):
                os.close(fd)
        log.info("workers stopped (%d restart(s))", self.restarts)


def watch_parent(fd: int, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """In a worker: stop when the supervising process is gone (its pipe reads EOF)."""

    def readable() -> None:
        try:
            data = os.read(fd, 1)
        except BlockingIOError:
            return
        if not data:
            loop.remove_reader(fd)
            log.warning("supervising process is gone; stopping")
            stop.set()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
