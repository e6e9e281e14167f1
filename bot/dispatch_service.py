"""The dispatcher as a long-running service: `rapport run` hosts one, `rapport worker` is one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from rapport.channels.supervision import Supervisor
from rapport.crm.channel import Channel
from rapport.crm.database import Database, is_outage
from rapport.crm.dispatch.dispatcher import Dispatcher
from rapport.crm.dispatch.outcomes import DispatchStats
from rapport.crm.privacy.unsubscribe import links_from_settings
from rapport.crm.settings import Settings

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 5.0
OUTAGE_RETRY_SECONDS = 1.0
HELD_MARGIN_SECONDS = 0.05
"""Waking a little after a held delivery's window ends, so the claim finds it free."""


def dispatcher_for(
    settings: Settings,
    db: Database,
    channels: Mapping[str, Channel],
    *,
    claim_only: frozenset[str] | None = None,
) -> Dispatcher:
    """A dispatcher configured from the settings, for `rapport run`, workers and run-now.

    Campaign mail carries its unsubscribe link; where no link can be made,
    email deliveries are held in the queue with the reason (`Dispatcher.hold`)
    rather than sent without one.
    """
    from rapport.crm.campaigns.bounded import set_time_limit

    set_time_limit(settings.template_time_limit_ms / 1000)
    links, reason = links_from_settings(settings, db)
    hold = {} if links is not None else {"email": f"no working unsubscribe link: {reason}"}
    if hold:
        log.error("campaign mail is held, not sent: %s", hold["email"])
    return Dispatcher(
        db,
        channels,
        batch_size=settings.dispatch_batch_size,
        max_attempts=settings.dispatch_max_attempts,
        business_name=settings.business_name,
        unsubscribe_url=links.url if links is not None else None,
        hold=hold,
        claim_only=claim_only,
        quiet_seconds=settings.dispatch_quiet_seconds,
    )


class DispatchService:
    name = "dispatcher"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        recover_all_at_start: bool,
        claim_only: frozenset[str] | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.supervisor = supervisor or Supervisor(db)
        self.dispatcher = dispatcher_for(settings, db, channels, claim_only=claim_only)
        self.lease = 0.0 if recover_all_at_start else float(settings.dispatch_lease_seconds)
        self.regular_lease = float(settings.dispatch_lease_seconds)
        self.stats = DispatchStats()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Thread-safe: the scheduler's threads call it after a run is materialised."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.dispatcher.recover, self.lease)
        self._task = self.supervisor.spawn("dispatcher", self._loop_forever)

    async def _loop_forever(self) -> None:
        failed = False
        while True:
            try:
                if failed:  # a claim may have committed unseen: give it back first
                    await self.dispatcher.release_prefetched()
                    await asyncio.to_thread(self.dispatcher.release_claims)
                    failed = False
                handled = await self.dispatcher.dispatch_once(self.stats)
                if handled == 0:
                    await asyncio.to_thread(self.dispatcher.recover, self.regular_lease)
                    pause = await asyncio.to_thread(self._idle_pause)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), pause)
                    self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarting, say: wait and go on
                failed = True
                pause = OUTAGE_RETRY_SECONDS if is_outage(exc) else IDLE_POLL_SECONDS
                if is_outage(exc):  # expected now and then: one line, no SQL or parameters
                    log.warning(
                        "dispatcher: database unavailable (%s); retrying in %.0f s",
                        type(getattr(exc, "orig", None) or exc).__name__,
                        pause,
                    )
                else:
                    log.exception("dispatcher pass failed; retrying shortly")
                await asyncio.sleep(pause)

    def _idle_pause(self) -> float:
        """Seconds to wait for work: a whole idle poll, or less if the quiet window holds
        a delivery back that falls free sooner."""
        released = self.dispatcher.held_until()
        if released is None:
            return IDLE_POLL_SECONDS
        wait = (released - self.dispatcher.clock()).total_seconds() + HELD_MARGIN_SECONDS
        return min(IDLE_POLL_SECONDS, max(HELD_MARGIN_SECONDS, wait))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # the database may be gone; the lease settles it
            await self.dispatcher.release_prefetched()
        log.info(
            "dispatcher stopped: %d sent, %d retried, %d failed, %d skipped",
            self.stats.sent,
            self.stats.retried,
            self.stats.failed,
            self.stats.skipped,
        )
