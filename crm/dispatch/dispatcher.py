"""The dispatcher: claims due deliveries, sends them in steps, records their outcomes.

Claiming and the restart safety of the delivery states are explained in
`rapport.crm.dispatch.claims`; a step is marked *sending* by
`rapport.crm.dispatch.marking` just before it is handed to its channel, and
its outcomes are recorded by `rapport.crm.dispatch.outcomes` in the same
transaction that marks the next step: one commit per step, not two per
message.

A database outage (PostgreSQL restarting, say) in the middle of a batch does
not lose the outcome in hand: the step that records it is tried again, with
back-off, until the database answers. A step may have committed even though
its caller saw the connection fail (the server went down while acknowledging
the commit), so every step is safe to repeat: "sent" is recorded only over a
delivery not yet sent, and a delivery this dispatcher already marked
"sending" may be marked so again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast

from rapport.crm.campaigns.definitions import pause_for_template
from rapport.crm.channel import Channel, PermanentFailure, RecipientGone, TransientFailure
from rapport.crm.clock import utcnow
from rapport.crm.database import Database, is_outage
from rapport.crm.dispatch import claims
from rapport.crm.dispatch.claims import Recovery
from rapport.crm.dispatch.jobs import Job, build_job
from rapport.crm.dispatch.marking import Marked, mark_sending
from rapport.crm.dispatch.outcomes import (
    DispatchStats,
    Outcome,
    RetryPolicy,
    record_outcomes,
    tally,
)

log = logging.getLogger(__name__)


PIPELINE_DEPTH = 16
"""Sends per parallel slot in one step: 64 mails over 4 SMTP connections, 16 Telegram
messages (about half a second at Telegram's overall pace)."""
OUTAGE_FIRST_WAIT = 0.2
OUTAGE_MAX_WAIT = 5.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        worker_id: str | None = None,
        batch_size: int = 100,
        max_attempts: int = 5,
        base_backoff: float = 30.0,
        business_name: str = "Rapport",
        extra_headers: Callable[[int, int], dict[str, str]] | None = None,
        clock: Callable[[], datetime] = utcnow,
        claim_only: frozenset[str] | None = None,
        quiet_seconds: float = 0.0,
        unsubscribe_url: Callable[[int, int], str] | None = None,
        hold: Mapping[str, str] | None = None,
        pipeline_depth: int = PIPELINE_DEPTH,
    ) -> None:
        self.pipeline_depth = pipeline_depth
        self._prefetch: asyncio.Task[list[Job]] | None = None
        """Sends per parallel slot in one step (see *sending* below)."""
        self.db = db
        self.unsubscribe_url = unsubscribe_url
        """(delivery id, customer id) → the message's one-click opt-out link."""
        self.hold = dict(hold or {})
        """Channels whose deliveries stay queued, untouched, and why: campaign mail without
        a working unsubscribe link is held, never sent bare (rapport.bot.dispatch_service)."""
        self.quiet_seconds = quiet_seconds
        """The quiet window (`rapport.crm.dispatch.claims`). 0 here, so a dispatcher built
        directly (tests, benchmarks) sends at once; `dispatcher_for` passes
        RAPPORT_DISPATCH_QUIET_SECONDS."""
        self.channels = dict(channels)
        self.claim_only = claim_only
        """Channels whose deliveries this dispatcher claims (None: all). A worker started
        without, say, a Telegram token leaves those deliveries to a process that has one,
        instead of failing them as "not configured"."""
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.business_name = business_name
        self.extra_headers = extra_headers
        """(delivery id, customer id) → headers, e.g. List-Unsubscribe from the privacy module."""
        self.clock = clock

    @property
    def _policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.base_backoff)

    # -- recovery and claiming (rapport.crm.dispatch.claims) ------------------------------

    def recover(self, stale_after: float = 300.0) -> Recovery:
        """Settle deliveries left behind by dispatchers that died.

        `stale_after` seconds without progress makes a claim stale; at the start
        of a single-dispatcher deployment (SQLite) 0 is right: nobody else runs.
        """
        return claims.recover(self.db, self.clock() - timedelta(seconds=stale_after))

    def release_claims(self) -> int:
        """Put back in the queue what this dispatcher claimed but holds no longer."""
        return claims.release_claims(self.db, self.worker_id)

    def claim(self) -> list[Job]:
        """Claim up to `batch_size` due deliveries of live campaigns for this worker."""
        now = self.clock()
        claimed = claims.claim_due(
            self.db,
            self.worker_id,
            now,
            batch_size=self.batch_size,
            claim_only=self.claim_only,
            quiet_seconds=self.quiet_seconds,
            held=frozenset(self.hold),
        )
        jobs: list[Job] = []
        broken: dict[int, str] = {}
        waiting: list[int] = []
        for r in claimed.rows:
            if r.campaign_id in broken:
                waiting.append(r.id)  # not rendered: its template just went over a bound
                continue
            job = build_job(
                r,
                claimed.campaigns[r.campaign_id],
                claimed.balances.get(r.customer_id, 0),
                now,
                business_name=self.business_name,
                extra_headers=self.extra_headers,
                unsubscribe_url=self.unsubscribe_url,
            )
            if job.over_limit:
                broken[r.campaign_id] = job.problem or "template over a limit"
            jobs.append(job)
        if broken:
            # The one failed delivery says why; the campaign stops until staff fix the
            # template and resume it, its other deliveries back in the queue meanwhile.
            pause_for_template(self.db, broken)
            claims.release_deliveries(self.db, self.worker_id, waiting)
        return jobs

    def held(self) -> dict[str, int]:
        """Queued deliveries per held channel (`hold`)."""
        return claims.held_per_channel(self.db, frozenset(self.hold))

    def held_until(self) -> datetime | None:
        """When the first delivery now held back by the quiet window is released, if any."""
        return claims.held_until(self.db, self.clock(), self.quiet_seconds)

    # -- sending ------------------------------------------------------------------------
    #
    # A batch is sent in steps. One transaction records the outcomes of one
    # step and marks the one after next "sending" (`rapport.crm.dispatch.marking`)
    # while a step goes out over the channel's parallel sends. A crash leaves
    # at most two steps "sending" (settled as outcome unknown, never resent),
    # so a step is the channel's parallel sends times `pipeline_depth`: a few
    # dozen mails, or about half a second of Telegram.

    def _step(
        self,
        done: Sequence[tuple[Job, Outcome]],
        upcoming: Sequence[Job],
        again: bool = False,
    ) -> Marked:
        """Record `done`'s outcomes and mark `upcoming` as sending, atomically.

        Returns which of `upcoming` may be sent (still ours, consenting,
        reachable), which the quiet window gave back to the queue, which were
        skipped.
        """
        with self.db.engine.begin() as conn:
            if done:
                record_outcomes(
                    conn,
                    done,
                    worker_id=self.worker_id,
                    policy=self._policy,
                    clock=self.clock,
                    again=again,
                )
            return mark_sending(
                conn,
                [job.delivery_id for job in upcoming],
                worker_id=self.worker_id,
                now=self.clock(),
                quiet_seconds=self.quiet_seconds,
                again=again,
            )

    async def _send(self, job: Job) -> Outcome:
        """Hand one message to its channel; every failure becomes an Outcome."""
        assert job.message is not None
        channel = self.channels[job.channel]
        try:
            receipt = await channel.send(job.external_id, job.message)
        except TransientFailure as exc:
            return Outcome.failed("transient", exc, retry=True, retry_after=exc.retry_after)
        except RecipientGone as exc:
            return Outcome.failed("gone", exc, gone=True)
        except PermanentFailure as exc:
            return Outcome.failed("permanent", exc)
        except Exception as exc:  # an adapter bug must not stop the whole run
            log.exception("channel %s raised an unexpected error", job.channel)
            return Outcome.failed("unexpected", exc, retry=True)
        return Outcome(receipt=receipt)

    def _unsendable(self, job: Job) -> Outcome | None:
        if job.message is None:
            return Outcome.failed("template", job.problem or "template error")
        if job.channel not in self.channels:
            return Outcome.failed("channel", f"channel {job.channel or '?'} is not configured")
        return None

    async def _record(self, done: Sequence[tuple[Job, Outcome]], upcoming: Sequence[Job]) -> Marked:
        """`_step`, tried again through a database outage: the outcomes in hand must land.

        Waits double from 0.2 s to 5 s and go on until the database answers or
        the task is cancelled (then the step stays "sending", and recovery
        settles it as outcome unknown, never as a resend).
        """
        wait = OUTAGE_FIRST_WAIT
        again = False
        while True:
            try:
                return await asyncio.to_thread(self._step, done, upcoming, again)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                log.warning(
                    "database unavailable while recording deliveries (%s); retrying in %.1f s",
                    type(getattr(exc, "orig", None) or exc).__name__,
                    wait,
                )
            await asyncio.sleep(wait)
            wait = min(wait * 2, OUTAGE_MAX_WAIT)
            again = True

    def parallel(self, channel: str) -> int:
        """How many sends `channel` takes at once (its `parallel`, e.g. SMTP connections)."""
        return max(1, int(getattr(self.channels[channel], "parallel", 1)))

    async def _send_batch(self, jobs: list[Job], stats: DispatchStats) -> None:
        """Send a claimed batch: each channel's jobs in their own lane, side by side."""
        unsendable: list[tuple[Job, Outcome]] = []
        lanes: dict[str, list[Job]] = {}
        for job in jobs:
            problem = self._unsendable(job)
            if problem is None:
                lanes.setdefault(job.channel, []).append(job)
            else:
                unsendable.append((job, problem))
                tally(stats, job, problem, self._policy)
        if unsendable:
            await self._record(unsendable, [])
        await asyncio.gather(*(self._lane(lane, stats) for lane in lanes.values()))

    async def _lane(self, jobs: list[Job], stats: DispatchStats) -> None:
        """One channel's jobs, step by step, the bookkeeping beside the sends.

        The channel's parallel senders take marked jobs from one queue, so a
        connection that finishes its share of a step goes on with the next
        step instead of waiting for the slowest one. As soon as every send of
        a step is back, one transaction records it and marks the step after
        the one now going out; at any moment at most two steps are "sending"
        (what a crash can leave as outcome unknown).
        """
        parallel = self.parallel(jobs[0].channel)
        size = max(1, parallel * self.pipeline_depth)
        steps = [jobs[start : start + size] for start in range(0, len(jobs), size)]
        lane = _Lane(parallel, self._send)
        try:
            lane.release(_going(steps[0], await self._record([], steps[0]), stats))
            for i in range(len(steps)):
                done = await lane.outcomes(i - 1) if i else []
                upcoming = steps[i + 1] if i + 1 < len(steps) else []
                if done or upcoming:
                    marked = await self._record(done, upcoming)
                    if upcoming:
                        lane.release(_going(upcoming, marked, stats))
                self._tally(done, stats)
            done = await lane.outcomes(len(steps) - 1)
            if done:
                await self._record(done, [])
            self._tally(done, stats)
        finally:
            await lane.close()

    def _tally(self, done: Sequence[tuple[Job, Outcome]], stats: DispatchStats) -> None:
        for job, outcome in done:
            tally(stats, job, outcome, self._policy)

    async def dispatch_once(self, stats: DispatchStats | None = None) -> int:
        """Claim one batch and send it; returns how many deliveries were handled.

        After a full batch (more is likely due) the next one is claimed while
        this one goes out; `release_prefetched` gives it back if no call follows.
        """
        stats = stats if stats is not None else DispatchStats()
        if self._prefetch is not None:
            prefetched, self._prefetch = self._prefetch, None
            jobs = await prefetched
        else:
            jobs = await asyncio.to_thread(self.claim)
        if len(jobs) >= self.batch_size:
            self._prefetch = asyncio.create_task(asyncio.to_thread(self.claim))
        await self._send_batch(jobs, stats)
        return len(jobs)

    async def release_prefetched(self) -> int:
        """Wait for a claim made ahead (if any) and put what it took back in the queue."""
        if self._prefetch is None:
            return 0
        prefetched, self._prefetch = self._prefetch, None
        with contextlib.suppress(Exception):
            await prefetched
        return await asyncio.to_thread(self.release_claims)

    async def drain(self) -> DispatchStats:
        """Send until nothing is due now (retries scheduled later stay queued)."""
        stats = DispatchStats()
        while await self.dispatch_once(stats):
            pass
        return stats


def _going(step: Sequence[Job], marked: Marked, stats: DispatchStats) -> list[Job]:
    """The jobs of `step` that marking let through; those it held back or skipped counted."""
    stats.held += len(marked.held)
    stats.skipped += len(marked.skipped)
    return [job for job in step if job.delivery_id in marked.go]


class _Step:
    """One step's marked jobs and, as they come back, their outcomes."""

    __slots__ = ("finished", "going", "outcomes", "pending")

    def __init__(self, going: list[Job]) -> None:
        self.going = going
        self.outcomes: list[Outcome | None] = [None] * len(going)
        self.pending = len(going)
        self.finished = asyncio.Event()
        if not going:
            self.finished.set()

    def done(self, position: int, outcome: Outcome) -> None:
        self.outcomes[position] = outcome
        self.pending -= 1
        if not self.pending:
            self.finished.set()


class _Lane:
    """A channel's parallel senders fed from one queue, and each step's outcomes.

    Steps are released in order once marked "sending"; `outcomes(i)` waits for
    every send of step i, in the step's order.
    """

    def __init__(self, parallel: int, send: Callable[[Job], Awaitable[Outcome]]) -> None:
        self._send = send
        self._queue: asyncio.Queue[tuple[_Step, int, Job]] = asyncio.Queue()
        self._steps: list[_Step] = []
        self._senders = [asyncio.create_task(self._sender()) for _ in range(parallel)]

    def release(self, going: list[Job]) -> None:
        """Queue `going`, the jobs marking let through, as the next step."""
        step = _Step(going)
        self._steps.append(step)
        for position, job in enumerate(going):
            self._queue.put_nowait((step, position, job))

    async def outcomes(self, index: int) -> list[tuple[Job, Outcome]]:
        step = self._steps[index]
        await step.finished.wait()
        return list(zip(step.going, cast(list[Outcome], step.outcomes), strict=True))

    async def _sender(self) -> None:
        while True:
            step, position, job = await self._queue.get()
            step.done(position, await self._send(job))

    async def close(self) -> None:
        """Stop the senders: none is busy unless the lane is being cancelled or failed."""
        for sender in self._senders:
            sender.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
