"""Supervision of long-running tasks: restart with back-off, give up loudly, never run deaf.

Every task `rapport run` keeps going (Telegram polling and its retries, the
dispatcher, the desk round) runs under one `Supervisor`. When a task raises,
the supervisor logs the exception with its cause, notes it in the task's
health row (rapport.crm.operations.health, what `rapport health` shows) and
starts the task again after a back-off that doubles (1 s, 2 s, 4 s, … at most
a minute). A task that fails `max_failures` times within `window` seconds, or
raises `GiveUp`, is given up: the supervisor's `failed` event is set and
`rapport run` stops and exits non-zero, so systemd (or whatever runs it)
restarts the whole process instead of leaving a bot that no longer listens.

A task that returns has finished its work (it is not restarted); cancelling
it is how its service stops it. While any task runs, the supervisor beats
every `HEARTBEAT` for its running tasks and periodic jobs (the rows'
`updated_at`), so `rapport health` and the console can tell a live task
from the row of a process that was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from rapport.crm.clock import Clock, utcnow
from rapport.crm.database import Database
from rapport.crm.errors import RapportError
from rapport.crm.operations.health import (
    FAILED,
    HEARTBEAT,
    RESTARTING,
    RUNNING,
    STOPPED,
    beat,
    record_task,
)

log = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW = 300.0
FIRST_DELAY = 1.0
MAX_DELAY = 60.0

TaskFactory = Callable[[], Awaitable[None]]


class GiveUp(Exception):
    """Raised by a task that cannot go on however often it is restarted (a refused token)."""


class TaskGaveUp(RapportError):
    """A supervised task kept failing: the process stops so that it is restarted whole."""


def describe(error: BaseException) -> str:
    """The error and its cause in one line, without a traceback or SQL parameters.

    A database error's text quotes the statement and its parameters (message
    text, addresses), so of those only the driver's exception type is named.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(parts) < 3:
        seen.add(id(current))
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            parts.append(f"{type(current).__name__} ({type(orig).__name__})")
        else:
            parts.append(f"{type(current).__name__}: {str(current)[:200]}".rstrip(": "))
        current = current.__cause__ or current.__context__
    return " <- caused by ".join(parts)[:500]


class Supervisor:
    """Runs named tasks, restarts them when they fail, and says when one cannot go on."""

    def __init__(
        self,
        db: Database | None = None,
        *,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        clock: Clock = utcnow,
        heartbeat: float = HEARTBEAT.total_seconds(),
    ) -> None:
        self.db = db
        self.heartbeat = heartbeat
        self.max_failures = max_failures
        self.window = window
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.clock = clock
        self.failed = asyncio.Event()
        """Set when a task was given up: the process should stop and exit non-zero."""
        self.gave_up: dict[str, str] = {}
        """Task name -> the error it was given up on."""
        self.restarts: dict[str, int] = {}
        self._tasks: set[str] = set()
        """Spawned tasks not ended: while there are any, the heartbeat runs."""
        self._jobs: set[str] = set()
        self._beating: asyncio.Task[None] | None = None

    def spawn(self, name: str, factory: TaskFactory) -> asyncio.Task[None]:
        """Start `factory()` as the task `name`, under supervision."""
        self._tasks.add(name)
        if self.db is not None and (self._beating is None or self._beating.done()):
            self._beating = asyncio.create_task(self._beat_forever(), name="heartbeat")
        return asyncio.create_task(self._supervise(name, factory), name=name)

    async def _beat_forever(self) -> None:
        """Touch the running rows until the last spawned task has ended."""
        assert self.db is not None
        while self._tasks:
            await asyncio.sleep(self.heartbeat)
            try:
                await asyncio.to_thread(beat, self.db, self._tasks | self._jobs, now=self.clock())
            except Exception as exc:  # the database away: the next beat tries again
                log.warning("heartbeat not recorded (%s)", type(exc).__name__)

    def error(self) -> TaskGaveUp:
        """What `rapport run` raises once a task was given up."""
        found = "; ".join(f"{name}: {why}" for name, why in self.gave_up.items())
        return TaskGaveUp(
            f"a task kept failing and was given up ({found}); "
            "stopping so that the service manager restarts Rapport"
        )

    async def _supervise(self, name: str, factory: TaskFactory) -> None:
        failures: deque[float] = deque()
        delay = self.first_delay
        self.restarts.setdefault(name, 0)
        await self._note(name, RUNNING, fresh=True)
        try:
            while True:
                started = time.monotonic()
                try:
                    await factory()
                    return  # finished its work
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    why = describe(exc)
                    now = time.monotonic()
                    if now - started > self.window:
                        delay = self.first_delay  # it had been healthy for a while
                    failures.append(now)
                    while failures and now - failures[0] > self.window:
                        failures.popleft()
                    if isinstance(exc, GiveUp) or len(failures) >= self.max_failures:
                        log.critical("%s: giving up after %d failure(s): %s", name,
                                     len(failures), why)  # fmt: skip
                        log.debug("%s failed", name, exc_info=exc)
                        self.gave_up[name] = why
                        await self._note(name, FAILED, error=why)
                        self.failed.set()
                        return
                    log.error("%s failed (%s); restarting in %.1f s", name, why, delay)
                    # The traceback may quote message text: DEBUG only.
                    log.debug("%s failed", name, exc_info=exc)
                    self.restarts[name] += 1
                    await self._note(name, RESTARTING, error=why, restarted=True)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_delay)
                    await self._note(name, RUNNING)
        except asyncio.CancelledError:
            await asyncio.shield(self._note(name, STOPPED))
            raise
        finally:
            self._tasks.discard(name)
            if not self._tasks and self._beating is not None:
                self._beating.cancel()  # nothing left to beat for

    def periodic(self, name: str, job: Callable[[], None]) -> Callable[[], None]:
        """`job`, run now and then by a scheduler in a thread, with its failures counted.

        The scheduler is what runs it again (at its next interval); the
        supervisor logs a failure with its cause, keeps the job's health row,
        and gives up like for a task: `max_failures` within `window` set
        `failed`. Call this inside the event loop that watches `failed`.
        """
        loop = asyncio.get_running_loop()
        failures: deque[float] = deque()
        healthy: list[bool] = []
        self.restarts.setdefault(name, 0)
        self._jobs.add(name)

        def run() -> None:
            try:
                job()
            except Exception as exc:
                why, now = describe(exc), time.monotonic()
                failures.append(now)
                while failures and now - failures[0] > self.window:
                    failures.popleft()
                healthy.clear()
                log.debug("%s failed", name, exc_info=exc)
                if len(failures) >= self.max_failures:
                    log.critical("%s: giving up after %d failure(s): %s", name, len(failures), why)
                    self.gave_up[name] = why
                    self._note_now(name, FAILED, error=why)
                    loop.call_soon_threadsafe(self.failed.set)
                    return
                log.error("%s failed (%s); it runs again at its next interval", name, why)
                self.restarts[name] += 1
                self._note_now(name, RESTARTING, error=why, restarted=True)
                return
            if not healthy:
                self._note_now(name, RUNNING, fresh=self.restarts[name] == 0)
                healthy.append(True)

        return run

    def _note_now(self, name: str, state: str, **how: Any) -> None:
        """`_note` for a job already in a worker thread."""
        if self.db is None:
            return
        try:
            record_task(self.db, name, state, now=self.clock(), **how)
        except Exception as exc:
            log.warning("%s: could not record its health (%s)", name, type(exc).__name__)

    async def _note(
        self,
        name: str,
        state: str,
        *,
        error: str | None = None,
        restarted: bool = False,
        fresh: bool = False,
    ) -> None:
        """Write the task's health row; a database that is away must not stop the task."""
        if self.db is None:
            return
        try:
            await asyncio.to_thread(
                record_task,
                self.db,
                name,
                state,
                now=self.clock(),
                error=error,
                restarted=restarted,
                fresh=fresh,
            )
        except Exception as exc:
            log.warning("%s: could not record its health (%s)", name, type(exc).__name__)


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a supervised task and wait for it to end."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
