"""What happened to each send, recorded: sent (with its history and points) or failed.

"Sent" is recorded only over a delivery not yet sent and a failure only over
one this worker still holds, so recording an outcome is safe to repeat when a
commit may have happened unseen (`Dispatcher._record`). A transient failure
goes back to the queue with exponential back-off until `max_attempts`; a
recipient who is gone marks their address unreachable.

Core over the tables' columns on purpose: outcomes are recorded for every
send, in batches of statements built once and run as one `executemany` on
the driver's cursor (`rapport.crm.prepared`): SQLAlchemy's
execution context per row cost more than the rows themselves on this hot path.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, text, update

from rapport.crm.clock import as_utc
from rapport.crm.dispatch.jobs import Job
from rapport.crm.messages import Receipt
from rapport.crm.models import (
    Delivery,
    DeliveryStatus,
    Direction,
    Identity,
    Interaction,
    PointsEntry,
    UtcDateTime,
)
from rapport.crm.prepared import Prepared, naming


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one send: a receipt, or a failure and what to do about it."""

    receipt: Receipt | None = None
    kind: str = ""
    error: str = ""
    retry: bool = False
    retry_after: float | None = None
    gone: bool = False

    @classmethod
    def failed(
        cls,
        kind: str,
        error: Exception | str,
        *,
        retry: bool = False,
        retry_after: float | None = None,
        gone: bool = False,
    ) -> Outcome:
        text = str(error) or type(error).__name__
        return cls(kind=kind, error=text, retry=retry, retry_after=retry_after, gone=gone)


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    held: int = 0
    """Claimed, then given back to the queue by the quiet window (not handled: sent later)."""
    by_error: dict[str, int] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.skipped


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failed delivery is tried again, and how long apart."""

    max_attempts: int
    base_backoff: float

    def will_retry(self, job: Job, outcome: Outcome) -> bool:
        return outcome.retry and job.attempts < self.max_attempts

    def backoff(self, attempts: int) -> float:
        """Exponential with jitter: 30 s, 60 s, 120 s … capped at an hour."""
        return min(3600.0, self.base_backoff * 2.0 ** (attempts - 1)) * random.uniform(0.8, 1.2)


_d = Delivery.__table__.c
_MARK_SENT = Prepared(
    update(Delivery.__table__)
    .where(_d.id == bindparam("did"), _d.status != DeliveryStatus.SENT.value)
    .values(
        status=DeliveryStatus.SENT.value,
        sent_at=bindparam("sent_at", type_=UtcDateTime()),
        message_key=bindparam("key"),
        last_error=None,
    )
)


_HISTORY = Prepared(
    naming(
        Interaction.__table__,
        [
            "customer_id",
            "channel",
            "direction",
            "body",
            "subject",
            "automated",
            "message_key",
            "sent_at",
            "recorded_at",
        ],
    )
)
_POINTS = Prepared(
    naming(PointsEntry.__table__, ["customer_id", "delta", "reason", "delivery_id", "created_at"])
)


def record_outcomes(
    conn: Connection,
    done: Sequence[tuple[Job, Outcome]],
    *,
    worker_id: str,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
    again: bool = False,
) -> None:
    """Record a step's outcomes in the caller's transaction: one statement per kind.

    `again`: a repeat of a step whose commit may have happened unseen; sends
    already recorded then are left out, so none gets a second history row.
    """
    sent = [(job, outcome.receipt) for job, outcome in done if outcome.receipt is not None]
    if again and sent:
        d = Delivery.__table__.c
        recorded = set(
            conn.scalars(
                select(d.id).where(
                    d.id.in_([job.delivery_id for job, _ in sent]),
                    d.status == DeliveryStatus.SENT.value,
                )
            )
        )
        sent = [(job, receipt) for job, receipt in sent if job.delivery_id not in recorded]
    if sent:
        _record_sent(conn, sent, clock)
    for job, outcome in done:
        if outcome.receipt is None:
            _record_failure(conn, job, outcome, worker_id, policy, clock)


def _record_sent(
    conn: Connection, sent: Sequence[tuple[Job, Receipt]], clock: Callable[[], datetime]
) -> None:
    """Mark sent, add the outbound history rows and points: one statement each.

    Every delivery here is this step's, "sending" by this worker and not yet
    "sent" (a repeated step filtered out what its first try recorded), so
    each statement covers all of them.
    """
    now = clock()
    if conn.dialect.name == "postgresql":
        _record_sent_as_arrays(conn, sent, now)
    else:
        _record_sent_row_by_row(conn, sent, now)
    points = [
        {
            "customer_id": job.customer_id,
            "delta": job.points,
            "reason": f"campaign {job.campaign_id}",
            "delivery_id": job.delivery_id,
            "created_at": now,
        }
        for job, _ in sent
        if job.points
    ]
    if points:
        _POINTS.execute_many(conn, points)


def _record_sent_row_by_row(
    conn: Connection, sent: Sequence[tuple[Job, Receipt]], now: datetime
) -> None:
    """Mark sent and add the history rows: one executemany each (SQLite: in process)."""
    _MARK_SENT.execute_many(
        conn,
        [
            {"did": job.delivery_id, "sent_at": receipt.sent_at, "key": receipt.message_key}
            for job, receipt in sent
        ],
    )
    history = []
    for job, receipt in sent:
        assert job.message is not None
        history.append(
            {
                "customer_id": job.customer_id,
                "channel": job.channel,
                "direction": Direction.OUT.value,
                "body": job.message.text,
                "subject": job.message.subject,
                "automated": True,
                "message_key": receipt.message_key,
                "sent_at": receipt.sent_at,
                "recorded_at": now,
            }
        )
    _HISTORY.execute_many(conn, history)


_MARK_SENT_ARRAYS = text(
    f"""UPDATE {Delivery.__tablename__} AS d
    SET status = :sent, sent_at = v.sent_at, message_key = v.message_key, last_error = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:sent_ats AS timestamptz[]),
                CAST(:keys AS text[])) AS v(id, sent_at, message_key)
    WHERE d.id = v.id AND d.status <> :sent"""
)
_HISTORY_ARRAYS = text(
    f"""INSERT INTO {Interaction.__tablename__}
        (customer_id, channel, direction, body, subject, automated, message_key, sent_at,
         recorded_at)
    SELECT v.customer_id, v.channel, :direction, v.body, v.subject, true, v.message_key,
           v.sent_at, :recorded_at
    FROM unnest(CAST(:customer_ids AS bigint[]), CAST(:channels AS text[]),
                CAST(:bodies AS text[]), CAST(:subjects AS text[]), CAST(:keys AS text[]),
                CAST(:sent_ats AS timestamptz[]))
         AS v(customer_id, channel, body, subject, message_key, sent_at)"""
)


def _record_sent_as_arrays(
    conn: Connection, sent: Sequence[tuple[Job, Receipt]], now: datetime
) -> None:
    """`_record_sent` on PostgreSQL: each statement once for the whole step, its values
    as arrays, where one execution per delivery cost the server and the driver more
    than the rows themselves."""
    keys = [receipt.message_key for _, receipt in sent]
    sent_ats = [as_utc(receipt.sent_at) for _, receipt in sent]
    conn.execute(
        _MARK_SENT_ARRAYS,
        {
            "sent": DeliveryStatus.SENT.value,
            "ids": [job.delivery_id for job, _ in sent],
            "sent_ats": sent_ats,
            "keys": keys,
        },
    )
    conn.execute(
        _HISTORY_ARRAYS,
        {
            "direction": Direction.OUT.value,
            "recorded_at": as_utc(now),
            "customer_ids": [job.customer_id for job, _ in sent],
            "channels": [job.channel for job, _ in sent],
            "bodies": [job.message.text if job.message else None for job, _ in sent],
            "subjects": [job.message.subject if job.message else None for job, _ in sent],
            "keys": keys,
            "sent_ats": sent_ats,
        },
    )


def _record_failure(
    conn: Connection,
    job: Job,
    outcome: Outcome,
    worker_id: str,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
) -> None:
    now = clock()
    values: dict[str, Any] = {"last_error": outcome.error[:300], "claimed_by": None}
    if policy.will_retry(job, outcome):
        delay = (
            outcome.retry_after if outcome.retry_after is not None else policy.backoff(job.attempts)
        )
        values.update(
            status=DeliveryStatus.QUEUED.value, next_attempt_at=now + timedelta(seconds=delay)
        )
    else:
        values.update(status=DeliveryStatus.FAILED.value)
    d = Delivery.__table__.c
    recorded = conn.execute(
        update(Delivery.__table__)
        .where(
            d.id == job.delivery_id,
            d.claimed_by == worker_id,  # cleared by the first try of a repeated step
            d.status.in_([DeliveryStatus.CLAIMED.value, DeliveryStatus.SENDING.value]),
        )
        .values(**values)
    ).rowcount
    if recorded and outcome.gone and job.identity_id is not None:
        conn.execute(
            update(Identity.__table__)
            .where(and_(Identity.id == job.identity_id, Identity.unreachable_at.is_(None)))
            .values(unreachable_at=now, unreachable_reason=outcome.error[:200])
        )


def tally(stats: DispatchStats, job: Job, outcome: Outcome, policy: RetryPolicy) -> None:
    """Count one outcome in the run's statistics."""
    if outcome.receipt is not None:
        stats.sent += 1
        return
    stats.by_error[outcome.kind] = stats.by_error.get(outcome.kind, 0) + 1
    if policy.will_retry(job, outcome):
        stats.retried += 1
    else:
        stats.failed += 1
