"""Outgoing webhooks as a long-running service: `rapport run` and each `rapport worker` host one.

It claims due deliveries from the outbox (rapport.crm.integrations.deliveries),
POSTs each event's JSON to its subscription's URL, signed
(rapport.crm.integrations.signing), and records the outcome: any 2xx is
delivered, anything else (another status, a timeout, a refused connection)
is retried with back-off. Several processes may run it on PostgreSQL; the
claims keep them apart. Receivers deduplicate by `X-Rapport-Event-Id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import aiohttp

from rapport.crm.clock import Clock, utcnow
from rapport.crm.database import Database, is_outage
from rapport.crm.integrations.deliveries import (
    DueDelivery,
    RetryPolicy,
    claim_due,
    next_due,
    record_delivered,
    record_failure,
)
from rapport.crm.integrations.signing import sign

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 2.0
"""Events are written by every process (ingest, the CLI): the outbox is polled this often."""
OUTAGE_RETRY_SECONDS = 1.0
USER_AGENT = "Rapport-Webhooks/1"


class WebhookService:
    name = "webhooks"

    def __init__(
        self,
        db: Database,
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = 50,
        concurrency: int = 10,
        timeout_seconds: float = 10.0,
        idle_seconds: float = IDLE_POLL_SECONDS,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.policy = policy or RetryPolicy()
        self.batch_size = batch_size
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.rng = rng or random.Random()
        self.delivered = 0
        self.failed_attempts = 0
        self._limit = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        """Thread-safe: look at the outbox now rather than at the next poll."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._http = aiohttp.ClientSession(timeout=self.timeout, headers={"User-Agent": USER_AGENT})
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.close()
        log.info(
            "webhooks stopped: %d delivered, %d failed attempts",
            self.delivered,
            self.failed_attempts,
        )

    async def _run(self) -> None:
        while True:
            try:
                handled = await self.deliver_once()
                if handled == 0:
                    pause = await asyncio.to_thread(self._idle_pause)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), pause)
                    self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_outage(exc):
                    log.warning("webhooks: database unavailable; retrying shortly")
                    await asyncio.sleep(OUTAGE_RETRY_SECONDS)
                else:
                    log.exception("webhook pass failed; retrying shortly")
                    await asyncio.sleep(self.idle_seconds)

    def _idle_pause(self) -> float:
        due = next_due(self.db)
        if due is None:
            return self.idle_seconds
        wait = (due - self.clock()).total_seconds()
        return min(self.idle_seconds, max(0.01, wait))

    async def deliver_once(self) -> int:
        """Claim one batch and send it; returns how many deliveries were attempted."""
        due = await asyncio.to_thread(
            claim_due, self.db, now=self.clock(), limit=self.batch_size, policy=self.policy
        )
        if due:
            await asyncio.gather(*(self._attempt(d) for d in due))
        return len(due)

    async def _attempt(self, delivery: DueDelivery) -> None:
        assert self._http is not None, "start() first"
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Rapport-Event": delivery.event_type,
            "X-Rapport-Event-Id": delivery.event_id,
            "X-Rapport-Timestamp": str(timestamp),
            "X-Rapport-Signature": sign(delivery.secret, timestamp, delivery.body),
        }
        status: int | None = None
        error: str | None = None
        async with self._limit:
            try:
                async with self._http.post(
                    delivery.url, data=delivery.body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    await response.read()
                    if not 200 <= status < 300:
                        error = f"HTTP {status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if error is None and status is not None:
            await asyncio.to_thread(record_delivered, self.db, delivery, status, now=self.clock())
            self.delivered += 1
            return
        self.failed_attempts += 1
        retry_at = await asyncio.to_thread(
            record_failure,
            self.db,
            delivery,
            status,
            error or "no answer",
            now=self.clock(),
            policy=self.policy,
            rng=self.rng,
        )
        if retry_at is None:
            log.warning(
                "webhook delivery %d failed for good after %d attempts (%s)",
                delivery.id,
                delivery.attempt,
                error,
            )
        else:
            log.info(
                "webhook delivery %d attempt %d failed (%s); retry at %s",
                delivery.id,
                delivery.attempt,
                error,
                retry_at.isoformat(timespec="seconds"),
            )
