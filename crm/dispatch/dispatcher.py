"""The dispatcher: claims due deliveries, sends them, records each outcome.

Claiming and the restart safety of the delivery states are explained in
`rapport.crm.dispatch.claims`; outcomes are recorded by
`rapport.crm.dispatch.outcomes`. Here each claimed job is marked *sending*
just before it is handed to its channel.

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
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Update, bindparam, exists, update

from rapport.crm.campaigns.definitions import pause_for_template
from rapport.crm.channel import Channel, PermanentFailure, RecipientGone, TransientFailure
from rapport.crm.clock import utcnow
from rapport.crm.database import Database, is_outage
from rapport.crm.dispatch import claims
from rapport.crm.dispatch.claims import QUIET_HOLD_FACTOR, Recovery
from rapport.crm.dispatch.jobs import Job, build_job
from rapport.crm.dispatch.outcomes import (
    DispatchStats,
    Outcome,
    RetryPolicy,
    record_outcome,
    tally,
)
from rapport.crm.models import Customer, Delivery, DeliveryStatus, Identity, UtcDateTime
from rapport.crm.privacy.consent import marketing_granted

log = logging.getLogger(__name__)


def _statements(again: bool = False) -> tuple[Update, Update]:
    """Built once; the dispatcher runs them for every message.

    `again`: the variant for repeating a step whose commit may have happened,
    where the delivery may already be "sending" by this dispatcher.
    """
    d = Delivery.__table__.c
    cust = Customer.__table__.c
    ident = Identity.__table__.c
    ours = (
        d.status.in_([DeliveryStatus.CLAIMED.value, DeliveryStatus.SENDING.value])
        if again
        else d.status == DeliveryStatus.CLAIMED.value
    )
    mark_sending = (
        update(Delivery.__table__)
        .where(
            d.id == bindparam("did"),
            ours,
            d.claimed_by == bindparam("me"),
            exists().where(cust.id == d.customer_id, cust.erased_at.is_(None)),
            exists().where(
                ident.id == d.identity_id,
                ident.unreachable_at.is_(None),
                marketing_granted(d.customer_id, ident.channel),
            ),
        )
        .values(
            status=DeliveryStatus.SENDING.value, claimed_at=bindparam("at", type_=UtcDateTime())
        )
    )
    skip_changed = (
        update(Delivery.__table__)
        .where(
            d.id == bindparam("did"),
            d.status == DeliveryStatus.CLAIMED.value,
            d.claimed_by == bindparam("me"),
        )
        .values(status=DeliveryStatus.SKIPPED.value, skip_reason="consent_or_reach_changed")
    )
    return mark_sending, skip_changed


_MARK_SENDING, _SKIP_CHANGED = _statements()
_MARK_SENDING_AGAIN = _statements(again=True)[0]


def _quiet_statements() -> tuple[Update, Update]:
    """The quiet window checked again just before a send (`rapport.crm.dispatch.claims`).

    A batch is claimed at once but sent one message after another, seconds
    apart on Telegram, so a customer may write between the claim and their
    turn. "Sending" is then marked only if they are still quiet; if not, the
    delivery goes back to the queue as it was (the claim's attempt undone).
    """
    d = Delivery.__table__.c
    cust = Customer.__table__.c
    writing = exists().where(
        cust.id == d.customer_id,
        cust.last_activity_at > bindparam("recent", type_=UtcDateTime()),
        d.next_attempt_at > bindparam("held_since", type_=UtcDateTime()),
    )
    mark_sending = _statements()[0]
    hold_back = (
        update(Delivery.__table__)
        .where(
            d.id == bindparam("did"),
            d.status == DeliveryStatus.CLAIMED.value,
            d.claimed_by == bindparam("me"),
            writing,
        )
        .values(
            status=DeliveryStatus.QUEUED.value,
            claimed_by=None,
            claimed_at=None,
            attempts=d.attempts - 1,
        )
    )
    return mark_sending.where(~writing), hold_back


_MARK_SENDING_QUIET, _HOLD_BACK = _quiet_statements()
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
    ) -> None:
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
    # Each delivery needs two commits around its send: "sending" before, the
    # outcome after. The outcome of one delivery and the "sending" mark of the
    # next share a transaction, which halves the commits without widening the
    # window in which a crash leaves an outcome unknown.

    def _step(
        self, done: tuple[Job, Outcome] | None, upcoming: Job | None, again: bool = False
    ) -> bool | None:
        """Record `done`'s outcome and mark `upcoming` as sending, atomically.

        Returns whether `upcoming` may be sent (still ours, consenting, reachable):
        True or False (then it is skipped), or None if the quiet window gave it
        back to the queue because its customer wrote meanwhile.
        """
        with self.db.engine.begin() as conn:
            if done is not None:
                record_outcome(
                    conn, *done, worker_id=self.worker_id, policy=self._policy, clock=self.clock
                )
            if upcoming is None:
                return False
            now = self.clock()
            ids = {"did": upcoming.delivery_id, "me": self.worker_id}
            if self.quiet_seconds > 0 and not again:
                # A repeated step may find its delivery "sending" already: it was
                # decided then, and holding it back now would strand it there.
                window = timedelta(seconds=self.quiet_seconds)
                quiet = {
                    "recent": now - window,
                    "held_since": now - window * QUIET_HOLD_FACTOR,
                }
                moved = conn.execute(_MARK_SENDING_QUIET, {**ids, **quiet, "at": now}).rowcount
                if not moved and conn.execute(_HOLD_BACK, {**ids, **quiet}).rowcount:
                    return None
            else:
                moved = conn.execute(
                    _MARK_SENDING_AGAIN if again else _MARK_SENDING, {**ids, "at": now}
                ).rowcount
            if not moved:
                conn.execute(_SKIP_CHANGED, ids)
            return bool(moved)

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

    async def _record(self, done: tuple[Job, Outcome] | None, upcoming: Job | None) -> bool | None:
        """`_step`, tried again through a database outage: the outcome in hand must land.

        Waits double from 0.2 s to 5 s and go on until the database answers or
        the task is cancelled (then the delivery stays "sending", and recovery
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
                    "database unavailable while recording a delivery (%s); retrying in %.1f s",
                    type(getattr(exc, "orig", None) or exc).__name__,
                    wait,
                )
            await asyncio.sleep(wait)
            wait = min(wait * 2, OUTAGE_MAX_WAIT)
            again = True

    async def _send_batch(self, jobs: list[Job], stats: DispatchStats) -> None:
        done: tuple[Job, Outcome] | None = None
        for job in jobs:
            problem = self._unsendable(job)
            if problem is not None:
                await self._record(done, None)
                done = (job, problem)
                tally(stats, job, problem, self._policy)
                continue
            go = await self._record(done, job)
            if not go:
                done = None
                if go is None:
                    stats.held += 1
                else:
                    stats.skipped += 1
                continue
            outcome = await self._send(job)
            done = (job, outcome)
            tally(stats, job, outcome, self._policy)
        if done is not None:
            await self._record(done, None)

    async def dispatch_once(self, stats: DispatchStats | None = None) -> int:
        """Claim one batch and send it; returns how many deliveries were handled."""
        stats = stats if stats is not None else DispatchStats()
        jobs = await asyncio.to_thread(self.claim)
        await self._send_batch(jobs, stats)
        return len(jobs)

    async def drain(self) -> DispatchStats:
        """Send until nothing is due now (retries scheduled later stay queued)."""
        stats = DispatchStats()
        while await self.dispatch_once(stats):
            pass
        return stats
