"""Merging two customers who turn out to be one person, keeping all of their history.

DESIGN.md: "Identity: (channel, external_id) unique → customer; many per
customer. Merging two customers keeps history." A merge moves everything
the absorbed customer has — identities, messages, conversations, campaign
deliveries, survey answers, points, orders, consent and its proof, tags,
audit references, link codes — to the kept customer in one transaction,
then deletes the absorbed customer row and records where it went in
`customer_merges`.

Why delete rather than keep a "merged" row: every query over customers
(segments, campaign runs, reports, values, listings) would otherwise have to
remember to leave merged rows out, and one that forgot would message or
count a person twice. A deleted row cannot be picked by anything; the merge
record (and the audit event) still answer "where did customer 17 go?", and
unsubscribe links issued to the old id keep working through it.

The rules where the two customers' data clash:

- *Deliveries* are unique per (run, customer). When both got the same run,
  one row survives: the one that got furthest (sent, then queued, then
  failed, then skipped; on a tie the kept customer's). Its sibling is
  deleted after its dependants move over: its survey answer if the survivor
  has none (otherwise the earlier answer stays, "the first one counts" as it
  does for a live survey; the reply itself stays in the message history),
  its used-unsubscribe mark likewise, and its points entry always (the
  ledger is append-only: the points stay, linked to the surviving delivery
  if that has none, else to no delivery). So a run counts the person once,
  as a run always does, and their balance is the sum of both.
- *Consent* is per channel. Where only one side has a choice it moves. Where
  both agree, the more recent one stays. Where they disagree the result is
  *withdrawn*: an opt-out is never lost to a merge; an opt-in can be given
  again with one tap, an ignored opt-out cannot be undone. When that
  overrides a more recent opt-in, an event with source `merge` says so.
  Both sides' consent events (the proof) all move.
- *Customer values* are population-relative (quintiles), so the absorbed
  customer's row is dropped and the kept one is refreshed by the next
  recompute (daily, or `rapport customers values --recompute`).
- *Tags* are the union. *Conversations* move as they are: if both had one
  unresolved, staff see both (new messages join the newer) and resolve them.
- Erased customers cannot be merged, and neither can a customer with a
  campaign message in flight (claimed or being sent by a dispatcher): the
  dispatcher writes the outcome against the customer it claimed.

`tests/crm/customers/test_merge.py` enumerates every foreign key to `customers` and to
`deliveries` in the models and fails for any this module does not handle,
so a new table cannot silently break merging.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from rapport.crm.clock import utcnow
from rapport.crm.database import Database
from rapport.crm.errors import Conflict, InvalidInput, NotFound
from rapport.crm.models import (
    AuditEvent,
    Consent,
    ConsentEvent,
    Conversation,
    ConversationSurvey,
    Customer,
    CustomerMerge,
    CustomerTag,
    CustomerValue,
    Delivery,
    DeliveryStatus,
    Identity,
    Interaction,
    LinkCode,
    MailReport,
    OptInRequest,
    Order,
    PointsEntry,
    SurveyResponse,
    UnsubscribeUse,
)
from rapport.crm.staff.audit import Actor, record

log = logging.getLogger(__name__)

MOVED: tuple[InstrumentedAttribute[Any], ...] = (
    Identity.customer_id,
    Interaction.customer_id,
    Conversation.customer_id,
    ConversationSurvey.customer_id,
    Delivery.customer_id,
    PointsEntry.customer_id,
    Order.customer_id,
    ConsentEvent.customer_id,
    AuditEvent.customer_id,
    LinkCode.customer_id,
    LinkCode.target_customer_id,
    CustomerMerge.kept_id,
    MailReport.customer_id,
    OptInRequest.customer_id,
)
"""Columns whose rows simply change hands: the absorbed id becomes the kept one."""

CUSTOMER_REFERENCES: frozenset[tuple[str, str]] = frozenset(
    {(c.class_.__tablename__, c.key) for c in MOVED}
    | {
        ("consents", "customer_id"),  # merged per channel, see _merge_consents
        ("customer_tags", "customer_id"),  # union
        ("customer_values", "customer_id"),  # dropped, recomputed
    }
)
"""Every (table, column) referring to customers.id that merging handles."""

DELIVERY_REFERENCES: frozenset[tuple[str, str]] = frozenset(
    {
        ("survey_responses", "delivery_id"),
        ("points_entries", "delivery_id"),
        ("unsubscribe_uses", "delivery_id"),
        ("mail_reports", "delivery_id"),
    }
)
"""Every (table, column) referring to deliveries.id: moved when a sibling delivery is dropped."""

IN_FLIGHT = (DeliveryStatus.CLAIMED.value, DeliveryStatus.SENDING.value)
_PROGRESS = {
    DeliveryStatus.SENT.value: 3,
    DeliveryStatus.QUEUED.value: 2,
    DeliveryStatus.FAILED.value: 1,
    DeliveryStatus.SKIPPED.value: 0,
}
"""How far a delivery got; of two for the same run, the further one survives."""


@dataclass(frozen=True, slots=True)
class MergeResult:
    kept_id: int
    absorbed_id: int
    identities: int
    interactions: int
    deliveries_folded: int
    """Deliveries of a run both customers got, of which one row was dropped."""


def merge_customers(
    db: Database, keep_id: int, absorb_id: int, actor: Actor, *, now: datetime | None = None
) -> MergeResult:
    """Merge `absorb_id` into `keep_id` in one transaction; audited. See the module text."""
    with db.transaction() as session:
        return merge_in(session, keep_id, absorb_id, actor, now=now)


def merge_in(
    session: Session, keep_id: int, absorb_id: int, actor: Actor, *, now: datetime | None = None
) -> MergeResult:
    """The merge inside the caller's transaction (a link confirmation consumes its code in it)."""
    now = now or utcnow()
    if keep_id == absorb_id:
        raise InvalidInput("a customer cannot be merged into itself")
    conn = session.connection()
    keep, absorb = _lock_customers(conn, keep_id, absorb_id)
    _refuse_in_flight(conn, keep_id, absorb_id)
    folded = _fold_deliveries(conn, keep_id, absorb_id)
    _merge_consents(conn, keep_id, absorb_id, now)
    _merge_tags(conn, keep_id, absorb_id)
    conn.execute(delete(CustomerValue).where(CustomerValue.customer_id == absorb_id))
    moved: dict[str, int] = {}
    for column in MOVED:
        count = conn.execute(
            update(column.class_).where(column == absorb_id).values({column.key: keep_id})
        ).rowcount
        table = column.class_.__tablename__
        moved[table] = moved.get(table, 0) + count
    _combine_profile(conn, keep, absorb)
    _refresh_consent_summary(conn, keep_id, keep, absorb)
    conn.execute(
        insert(CustomerMerge).values(
            absorbed_id=absorb_id, kept_id=keep_id, merged_at=now, actor=actor.label[:200]
        )
    )
    conn.execute(delete(Customer).where(Customer.id == absorb_id))
    result = MergeResult(keep_id, absorb_id, moved["identities"], moved["interactions"], folded)
    record(
        session,
        actor,
        "customer.merge",
        customer_id=keep_id,
        detail=(
            f"customer {absorb_id} merged into {keep_id}: {result.identities} identities, "
            f"{result.interactions} messages, {folded} shared deliveries folded"
        ),
    )
    log.info("customer %d merged into %d by %s", absorb_id, keep_id, actor.label)
    return result


def _lock_customers(conn: Connection, keep_id: int, absorb_id: int) -> tuple[Any, Any]:
    """Both rows, locked for the transaction (PostgreSQL), lower id first to avoid deadlocks."""
    rows = {
        r.id: r
        for r in conn.execute(
            select(Customer)
            .where(Customer.id.in_((keep_id, absorb_id)))
            .order_by(Customer.id)
            .with_for_update()
        )
    }
    for customer_id in (keep_id, absorb_id):
        row = rows.get(customer_id)
        if row is None:
            raise NotFound(f"no customer with id {customer_id}")
        if row.erased_at is not None:
            raise InvalidInput(
                f"customer {customer_id} is erased; erased customers cannot be merged"
            )
    return rows[keep_id], rows[absorb_id]


def _refuse_in_flight(conn: Connection, keep_id: int, absorb_id: int) -> None:
    """Lock both customers' unsent deliveries (PostgreSQL) so no dispatcher claims one mid-merge
    (its claim skips locked rows), and refuse if one is already claimed or being sent."""
    pending = conn.execute(
        select(Delivery.customer_id, Delivery.status)
        .where(
            Delivery.customer_id.in_((keep_id, absorb_id)),
            Delivery.status.in_((DeliveryStatus.QUEUED.value, *IN_FLIGHT)),
        )
        .order_by(Delivery.id)
        .with_for_update()
    ).all()
    busy = next((r.customer_id for r in pending if r.status in IN_FLIGHT), None)
    if busy is not None:
        raise Conflict(
            f"customer {busy} has a campaign message being sent right now; "
            "try the merge again in a minute"
        )


def _fold_deliveries(conn: Connection, keep_id: int, absorb_id: int) -> int:
    """For each run both customers got, keep one delivery row and move the other's dependants."""
    kept = aliased(Delivery, name="kept")
    pairs = conn.execute(
        select(
            Delivery.id.label("absorbed"),
            Delivery.status.label("absorbed_status"),
            kept.id.label("kept"),
            kept.status.label("kept_status"),
        )
        .join(kept, (kept.run_id == Delivery.run_id) & (kept.customer_id == keep_id))
        .where(Delivery.customer_id == absorb_id)
    ).all()
    for pair in pairs:
        if _PROGRESS.get(pair.absorbed_status, 0) > _PROGRESS.get(pair.kept_status, 0):
            winner, loser = pair.absorbed, pair.kept
        else:
            winner, loser = pair.kept, pair.absorbed
        _move_delivery_dependants(conn, winner, loser)
        conn.execute(delete(Delivery).where(Delivery.id == loser))
    return len(pairs)


def _move_delivery_dependants(conn: Connection, winner: int, loser: int) -> None:
    answers = conn.execute(
        select(SurveyResponse.id, SurveyResponse.delivery_id, SurveyResponse.created_at)
        .where(SurveyResponse.delivery_id.in_((winner, loser)))
        .order_by(SurveyResponse.created_at, SurveyResponse.id)
    ).all()
    if len(answers) == 2:  # the first one counts; the later reply stays in the history
        conn.execute(delete(SurveyResponse).where(SurveyResponse.id == answers[1].id))
    if answers and answers[0].delivery_id == loser:
        conn.execute(
            update(SurveyResponse)
            .where(SurveyResponse.id == answers[0].id)
            .values(delivery_id=winner)
        )

    winner_has_points = conn.scalar(select(func.count()).where(PointsEntry.delivery_id == winner))
    conn.execute(
        update(PointsEntry)
        .where(PointsEntry.delivery_id == loser)
        .values(delivery_id=None if winner_has_points else winner)
    )

    if conn.scalar(select(func.count()).where(UnsubscribeUse.delivery_id == winner)):
        conn.execute(delete(UnsubscribeUse).where(UnsubscribeUse.delivery_id == loser))
    else:
        conn.execute(
            update(UnsubscribeUse)
            .where(UnsubscribeUse.delivery_id == loser)
            .values(delivery_id=winner)
        )

    conn.execute(
        update(MailReport).where(MailReport.delivery_id == loser).values(delivery_id=winner)
    )

    responded = conn.scalar(
        select(func.min(Delivery.responded_at)).where(Delivery.id.in_((winner, loser)))
    )
    conn.execute(update(Delivery).where(Delivery.id == winner).values(responded_at=responded))


def _merge_consents(conn: Connection, keep_id: int, absorb_id: int, now: datetime) -> None:
    """Per (channel, purpose): move, keep the newer agreeing choice, or withdraw on a clash."""
    theirs = conn.execute(select(Consent).where(Consent.customer_id == absorb_id)).all()
    for other in theirs:
        key = (Consent.channel == other.channel) & (Consent.purpose == other.purpose)
        mine = conn.execute(select(Consent).where(Consent.customer_id == keep_id, key)).first()
        if mine is None:
            conn.execute(
                update(Consent)
                .where(Consent.customer_id == absorb_id, key)
                .values(customer_id=keep_id)
            )
            continue
        conn.execute(delete(Consent).where(Consent.customer_id == absorb_id, key))
        newer = other if other.updated_at > mine.updated_at else mine
        if mine.granted == other.granted:
            choice = {"granted": newer.granted, "source": newer.source, "at": newer.updated_at}
        elif not newer.granted:
            choice = {"granted": False, "source": newer.source, "at": newer.updated_at}
        else:  # the newer choice is an opt-in given on the other identity: the opt-out stands
            choice = {"granted": False, "source": "merge", "at": now}
            conn.execute(
                insert(ConsentEvent).values(
                    customer_id=keep_id,
                    channel=other.channel,
                    purpose=other.purpose,
                    granted=False,
                    source="merge",
                    at=now,
                )
            )
            log.info("merge into customer %d kept an opt-out on %s", keep_id, other.channel)
        conn.execute(
            update(Consent)
            .where(Consent.customer_id == keep_id, key)
            .values(granted=choice["granted"], source=choice["source"], updated_at=choice["at"])
        )


def _merge_tags(conn: Connection, keep_id: int, absorb_id: int) -> None:
    mine = set(conn.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == keep_id)))
    theirs = set(conn.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == absorb_id)))
    conn.execute(delete(CustomerTag).where(CustomerTag.customer_id == absorb_id))
    new = sorted(theirs - mine)
    if new:
        conn.execute(insert(CustomerTag), [{"customer_id": keep_id, "tag": tag} for tag in new])


def _combine_profile(conn: Connection, keep: Any, absorb: Any) -> None:
    """One profile: the earlier first contact, the later last activity, a name if either has one."""
    first = absorb if absorb.created_at < keep.created_at else keep
    latest = keep
    if absorb.last_activity_at is not None and (
        keep.last_activity_at is None or absorb.last_activity_at > keep.last_activity_at
    ):
        latest = absorb
    conn.execute(
        update(Customer)
        .where(Customer.id == keep.id)
        .values(
            display_name=keep.display_name or absorb.display_name,
            created_at=first.created_at,
            first_seen_channel=first.first_seen_channel,
            last_activity_at=latest.last_activity_at,
            last_channel=latest.last_channel,
        )
    )


def _refresh_consent_summary(conn: Connection, keep_id: int, keep: Any, absorb: Any) -> None:
    """`customers.marketing_consent` summarises the merged per-channel choices."""
    latest = conn.execute(
        select(Consent.updated_at, Consent.source)
        .where(Consent.customer_id == keep_id)
        .order_by(Consent.updated_at.desc())
        .limit(1)
    ).first()
    granted = bool(
        conn.scalar(
            select(func.count()).where(Consent.customer_id == keep_id, Consent.granted.is_(True))
        )
    )
    if latest is not None:
        at, source = latest.updated_at, latest.source
    else:  # neither ever chose per channel: keep the newer summary stamp, if any
        stamps = [(row.consent_updated_at, row.consent_source) for row in (keep, absorb)]
        at, source = max(
            (s for s in stamps if s[0] is not None), default=(None, None), key=lambda s: s[0]
        )
    conn.execute(
        update(Customer)
        .where(Customer.id == keep_id)
        .values(marketing_consent=granted, consent_updated_at=at, consent_source=source)
    )


def merged_into(session: Session, customer_id: int) -> int | None:
    """The customer an old (merged-away) id now lives in, if it was merged."""
    return session.scalar(
        select(CustomerMerge.kept_id).where(CustomerMerge.absorbed_id == customer_id)
    )
