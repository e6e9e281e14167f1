"""Marking a step of claimed deliveries "sending": the last check before they leave.

The dispatcher sends a claimed batch in *steps* of a few dozen deliveries
(`rapport.crm.dispatch.dispatcher`). Before a step is handed to its channel
its deliveries are marked "sending" in one set-based UPDATE, and only the
ones that UPDATE returns are sent. The UPDATE re-checks, for each delivery:

- it is still this worker's claim (another dispatcher or `recover` may have
  taken it back);
- the customer is not erased, the address is reachable, and the customer
  still grants marketing on that channel (an opt-out between run and send
  is honoured);
- the quiet window (`rapport.crm.dispatch.claims`): a customer who wrote
  since the claim is given back to the queue as it was (the claim's attempt
  undone), to be sent when they have been quiet long enough.

A claimed delivery that fails the reach/consent check is skipped for good.
A crash after this commit leaves the step "sending", which recovery settles
as "outcome unknown", never as a resend; so a step is kept small (the
channel's parallel sends times a pipeline depth) and marked just before it
goes out.

Built once, the ids as one array parameter on PostgreSQL and an expanding
IN list elsewhere: one statement per kind per step, whatever the step's
size. Core over `Delivery.__table__` on purpose: the statements are
compiled once and reused for every step of every worker, where building
ORM-aware statements per step would show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Update, bindparam, exists, update

from rapport.crm.database import one_of
from rapport.crm.dispatch.claims import QUIET_HOLD_FACTOR
from rapport.crm.models import Customer, Delivery, DeliveryStatus, Identity, UtcDateTime
from rapport.crm.privacy.consent import marketing_granted


@dataclass(frozen=True, slots=True)
class Marked:
    """What a step's mark decided, by delivery id."""

    go: frozenset[int] = frozenset()
    """Marked "sending": hand these to the channel."""
    held: frozenset[int] = field(default_factory=frozenset)
    """Given back to the queue by the quiet window."""
    skipped: frozenset[int] = field(default_factory=frozenset)
    """Consent, reach or ownership changed since the claim: not sent."""


def _statements(postgresql: bool) -> tuple[Update, Update, Update, Update, Update]:
    d = Delivery.__table__.c
    cust = Customer.__table__.c
    ident = Identity.__table__.c
    step = one_of(d.id, "ids", postgresql)
    mine = d.claimed_by == bindparam("me")
    claimed = d.status == DeliveryStatus.CLAIMED.value
    reachable = (
        exists().where(cust.id == d.customer_id, cust.erased_at.is_(None)),
        exists().where(
            ident.id == d.identity_id,
            ident.unreachable_at.is_(None),
            marketing_granted(d.customer_id, ident.channel),
        ),
    )
    writing = exists().where(
        cust.id == d.customer_id,
        cust.last_activity_at > bindparam("recent", type_=UtcDateTime()),
        d.next_attempt_at > bindparam("held_since", type_=UtcDateTime()),
    )
    sending = {
        "status": DeliveryStatus.SENDING.value,
        "claimed_at": bindparam("at", type_=UtcDateTime()),
    }
    mark = update(Delivery.__table__).where(step, claimed, mine, *reachable).values(**sending)
    # A repeated step (its commit may have happened unseen) finds its deliveries
    # "sending" already: they were decided then, and stay decided.
    mark_again = (
        update(Delivery.__table__)
        .where(
            step,
            d.status.in_([DeliveryStatus.CLAIMED.value, DeliveryStatus.SENDING.value]),
            mine,
            *reachable,
        )
        .values(**sending)
    )
    hold_back = (
        update(Delivery.__table__)
        .where(step, claimed, mine, writing)
        .values(
            status=DeliveryStatus.QUEUED.value,
            claimed_by=None,
            claimed_at=None,
            attempts=d.attempts - 1,
        )
    )
    skip = (
        update(Delivery.__table__)
        .where(step, claimed, mine)
        .values(status=DeliveryStatus.SKIPPED.value, skip_reason="consent_or_reach_changed")
    )
    returning = Delivery.__table__.c.id
    return (
        mark.returning(returning),
        mark.where(~writing).returning(returning),
        mark_again.returning(returning),
        hold_back.returning(returning),
        skip.returning(returning),
    )


_BY_DIALECT = {"postgresql": _statements(True), "other": _statements(False)}
"""On PostgreSQL a step's ids are one array parameter (`rapport.crm.database.among`)."""


def mark_sending(
    conn: Connection,
    ids: Sequence[int],
    *,
    worker_id: str,
    now: datetime,
    quiet_seconds: float,
    again: bool = False,
) -> Marked:
    """Mark this worker's claimed deliveries `ids` "sending", in the caller's transaction."""
    if not ids:
        return Marked()
    _MARK, _MARK_QUIET, _MARK_AGAIN, _HOLD_BACK, _SKIP = _BY_DIALECT.get(
        conn.dialect.name, _BY_DIALECT["other"]
    )
    params = {"ids": list(ids), "me": worker_id, "at": now}
    held: frozenset[int] = frozenset()
    if quiet_seconds > 0 and not again:
        window = timedelta(seconds=quiet_seconds)
        quiet = {"recent": now - window, "held_since": now - window * QUIET_HOLD_FACTOR}
        go = frozenset(conn.scalars(_MARK_QUIET, {**params, **quiet}))
        if len(go) < len(ids):
            held = frozenset(conn.scalars(_HOLD_BACK, {**params, **quiet}))
    else:
        go = frozenset(conn.scalars(_MARK_AGAIN if again else _MARK, params))
    skipped: frozenset[int] = frozenset()
    if len(go) + len(held) < len(ids):
        skipped = frozenset(conn.scalars(_SKIP, params))
    return Marked(go=go, held=held, skipped=skipped)
